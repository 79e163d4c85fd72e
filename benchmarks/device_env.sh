# Sourced by the h200_*.sh device scripts: installs the carried wheels (.whl/) without a network, puts them
# and the repository on PYTHONPATH, finds mamba_ssm's source under .peers/ (MAMBA, empty when absent), makes
# $OUT and sends everything the script prints to $OUT/log.txt too (it comes back even when the call times out).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
MAMBA=$(ls -d .peers/mamba_ssm-*/ 2>/dev/null | head -1)
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
