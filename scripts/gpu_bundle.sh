#!/usr/bin/env bash
# Packs a CUDA build for a GPU machine that has the NVIDIA driver but not
# lineage's build dependencies: the binaries, the shared libraries they
# load beyond glibc and libstdc++, the test data scripts/gpu_check.sh
# reads, and the test sources, into DIR. On the GPU machine:
#
#   LD_LIBRARY_PATH=DIR/lib LINEAGE_SHARED_DIR=DIR/shared bash scripts/gpu_check.sh DIR/build
#
#   bash scripts/gpu_bundle.sh DIR [BUILD_DIR]   (BUILD_DIR default build-cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:?usage: gpu_bundle.sh DIR [BUILD_DIR]}
B=${2:-build-cuda}
S=${LINEAGE_SHARED_DIR:-../shared}
[ -x "$B/lineage" ] || { echo "no $B/lineage: build with -DLINEAGE_CUDA=ON first" >&2; exit 1; }
rm -rf "$D"
mkdir -p "$D/build/tests" "$D/build/bench" "$D/lib" "$D/shared/golden/llamacpp" "$D/shared/models" "$D/shared/vocab" "$D/shared/tools"
strip -o "$D/build/lineage" "$B/lineage"
strip -o "$D/build/tests/lineage_tests" "$B/tests/lineage_tests"
if [ -x "$B/bench/cuda_matmul_bench" ]; then
  strip -o "$D/build/bench/cuda_matmul_bench" "$B/bench/cuda_matmul_bench"
fi
# Libraries from the build machine's packages (HTTP, regex, compression);
# the C and C++ runtimes, zlib and OpenSSL 3 are on every current distribution.
for bin in "$D"/build/lineage "$D"/build/tests/lineage_tests "$D"/build/bench/*; do
  ldd "$bin" | awk '/=> \// {print $3}' |
    grep -Ev '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt|libz|libssl|libcrypto|ld-linux[^/]*)\.so' |
    while read -r lib; do cp -L "$lib" "$D/lib/"; done
done
for f in tiny-11-F32 tiny-11-F16 tiny-11-BF16 tiny-11-Q8_0 tiny-11-Q4_0 tiny-11-Q4_K_M tiny-11-Q6_K tiny-11-Q4_1 moe-13-F32; do
  cp "$S/golden/llamacpp/$f.gguf" "$S/golden/llamacpp/$f.logits.jsonl" "$D/shared/golden/llamacpp/"
done
cp "$S/models/shakespeare-val.txt" "$D/shared/models/"
# The demo model is in the checkout too: a bundle inside the checkout links
# to it instead of holding a second copy.
case "$(realpath "$D")" in
  "$PWD"/*) ln -s "$(realpath --relative-to="$D/shared/models" models/shakespeare-5M.gguf)" "$D/shared/models/" ;;
  *) cp "$S/models/shakespeare-5M.gguf" "$D/shared/models/" ;;
esac
cp "$S/vocab/ggml-vocab-llama-spm.gguf" "$D/shared/vocab/"
cp "$S/tools/mkmodel.py" "$D/shared/tools/"
du -sh "$D"
