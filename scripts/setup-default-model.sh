#!/usr/bin/env bash
# Makes models/default: converts the real 260K-parameter TinyStories Llama from ../shared when present,
# otherwise writes a tiny random Llama so that every command still runs (its text is noise).
set -euo pipefail
cd "$(dirname "$0")/.."
out=models/default
[ -f "$out/model.json" ] && { echo "models/default already exists"; exit 0; }
src=../shared/models/stories260k/hf
if [ -d "$src" ]; then
  dotnet run -c Release --project tools/convert -- --input "$src" --output "$out"
else
  echo "note: $src not found; writing a random tiny model instead" >&2
  dotnet run -c Release --project bench -- synthetic --preset tiny --output "$out"
fi
