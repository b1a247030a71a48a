#!/usr/bin/env bash
# Install the system packages SoundForge needs, when they are missing and we can.
#
#   scripts/install-system.sh [--optional] TOOL...
#
# TOOL is a command name: ffmpeg, chromium, fluidsynth. Missing tools are
# installed with apt-get (as root, or through passwordless sudo). Where that is
# impossible the script prints exactly what to install and exits 1, or only warns
# with --optional.
set -u
optional=0
if [ "${1:-}" = "--optional" ]; then optional=1; shift; fi

declare -A APT=( [ffmpeg]="ffmpeg" [ffprobe]="ffmpeg" [chromium]="chromium" [fluidsynth]="fluidsynth fluid-soundfont-gm" )
declare -A BREW=( [ffmpeg]="ffmpeg" [ffprobe]="ffmpeg" [chromium]="--cask chromium" [fluidsynth]="fluid-synth" )

missing=()
for tool in "$@"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0

pkgs=""
for tool in "${missing[@]}"; do pkgs="$pkgs ${APT[$tool]:-$tool}"; done

runner=""
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then runner="env"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then runner="sudo"
  fi
fi

if [ -n "$runner" ]; then
  echo "Installing system packages:$pkgs"
  if $runner DEBIAN_FRONTEND=noninteractive apt-get update -qq \
     && $runner DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null; then
    exit 0
  fi
  echo "apt-get could not install:$pkgs" >&2
fi

{
  echo "SoundForge needs these programs, which are missing: ${missing[*]}"
  echo "  Debian/Ubuntu: sudo apt-get install$pkgs"
  brew_pkgs=""; for tool in "${missing[@]}"; do brew_pkgs="$brew_pkgs ${BREW[$tool]:-$tool}"; done
  echo "  macOS:         brew install$brew_pkgs"
  echo "  conda:         conda install -c conda-forge ffmpeg   (for ffmpeg)"
} >&2
[ $optional = 1 ] && { echo "(continuing without them)" >&2; exit 0; }
exit 1
