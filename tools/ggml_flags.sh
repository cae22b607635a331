# Sourced by tools/llamacpp.sh and tools/llama_server.sh: the CMake flags that build ggml for
# this CPU. GGML_NATIVE=OFF and each instruction set named only where /proc/cpuinfo lists it,
# with AMX off (GCC 12's AMX tile configuration crashes ggml; see docs/benchmarks.md).
ggml_cpu_flags() {
    local have args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
    have=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    local pair opt flag
    for pair in AVX:avx AVX2:avx2 FMA:fma F16C:f16c AVX_VNNI:avx_vnni AVX512:avx512f \
        AVX512_VBMI:avx512vbmi AVX512_VNNI:avx512_vnni AVX512_BF16:avx512_bf16; do
        opt=${pair%%:*} flag=${pair#*:}
        if [[ $have == *" $flag "* ]]; then args+=" -DGGML_$opt=ON"; else args+=" -DGGML_$opt=OFF"; fi
    done
    echo "$args -DGGML_BLAS=OFF -DGGML_OPENMP=ON"
}
