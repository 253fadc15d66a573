#!/usr/bin/env bash
# Builds each service of topology.toml for AWS Lambda (provided.al2023, arm64) and writes one
# zip per service, named by its content hash: target/lambda/<app>-<sha256:16>.zip, holding one
# executable file `bootstrap`. `infra deploy` uploads them to each Region's artifacts bucket.
#
# Usage: infra/scripts/build-lambdas.sh [APP...]     (default: every service in topology.toml)
#
# Needs cargo-lambda and zig (for the arm64 cross build). When they are not on PATH, they are
# installed from PyPI into a venv under target/lambda-tools (`pip install cargo-lambda ziglang`).
# The zips are deterministic (fixed timestamps and modes), so an unchanged binary keeps its name
# and the deploy neither uploads it again nor updates the function.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
out="$root/target/lambda"
tools="${LAMBDA_TOOLS_VENV:-$root/target/lambda-tools}"

if [ "$#" -gt 0 ]; then
    apps=("$@")
else
    mapfile -t apps < <(python3 - <<'PY'
import tomllib
with open("topology.toml", "rb") as f:
    topology = tomllib.load(f)
for app in topology["apps"]:
    if app.get("kind") == "service":
        print(app["name"])
PY
)
fi
if [ "${#apps[@]}" -eq 0 ]; then
    echo "no services in topology.toml: nothing to build" >&2
    exit 1
fi

if ! command -v cargo-lambda >/dev/null 2>&1 || ! { command -v zig >/dev/null 2>&1 || python3 -c 'import ziglang' 2>/dev/null; }; then
    if [ ! -x "$tools/bin/cargo-lambda" ]; then
        echo "installing cargo-lambda and ziglang into $tools" >&2
        python3 -m venv "$tools"
        "$tools/bin/pip" install --quiet --upgrade pip
        "$tools/bin/pip" install --quiet cargo-lambda ziglang
    fi
    # cargo-lambda finds zig as `python3 -m ziglang` when no zig binary is on PATH.
    export PATH="$tools/bin:$PATH"
fi

mkdir -p "$out/build"
for app in "${apps[@]}"; do
    echo "building $app for Lambda (arm64, release)" >&2
    cargo lambda build --release --arm64 --package "$app" --bin "$app" --lambda-dir "$out/build"
    binary="$out/build/$app/bootstrap"
    [ -x "$binary" ] || { echo "cargo lambda left no $binary" >&2; exit 1; }
    zip_path="$(python3 - "$binary" "$out" "$app" <<'PY'
import hashlib, os, re, sys, zipfile
binary, out, app = sys.argv[1:4]
tmp = os.path.join(out, f".{app}.zip.tmp")
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(binary, "rb") as f, zipfile.ZipFile(tmp, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
with open(tmp, "rb") as f:
    digest = hashlib.sha256(f.read()).hexdigest()[:16]
for old in os.listdir(out):
    if re.fullmatch(re.escape(app) + r"-[0-9a-f]{16}\.zip", old):
        os.remove(os.path.join(out, old))
final = os.path.join(out, f"{app}-{digest}.zip")
os.replace(tmp, final)
print(final)
PY
)"
    echo "$zip_path $(stat -c %s "$zip_path") bytes"
done
