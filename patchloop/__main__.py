from patchloop.cli import main

main()
