"""Models by name: where each comes from, how it lands on disk, and where its weights are.

``models``: the known real models and their pinned hashes; ``fetch`` assembles and checks
them; ``gguf_convert`` turns GGUF into a Hugging Face checkpoint; ``tiny`` builds the small
model the tests and the quick demo use; ``checkpoints`` finds the weights in a training run.
"""
