#!/usr/bin/env bash
# rootfs.sh — the sandbox image's root file system, built without a registry.
#
#   rootfs.sh TARGET_DIR LAUNCHER_PY
#
# 1. debootstrap a minimal Debian (variant minbase) with the interpreter, from
#    the Debian mirror this machine's apt is configured with;
# 2. copy out of it only what the interpreter needs — python3.11, its standard
#    library, and the shared libraries its binary and extension modules link
#    against — plus a passwd/group naming the sandbox user and the launcher.
#
# The result has no shell, no coreutils, no package manager: a program can
# start only what Python itself can do. `coderunner image build` runs this
# script and imports TARGET_DIR as an image through the Engine API.
#
# Environment: SANDBOX_MIRROR overrides the mirror read from apt's sources;
# SANDBOX_DEB_CACHE (default /var/cache/coderunner/debs) keeps the downloaded
# packages, so a rebuild after a change to the definition downloads nothing.
set -euo pipefail

SUITE=bookworm # pinned: the image is Debian 12's python3.11
PYTHON=python3.11

log() { printf 'rootfs: %s\n' "$*" >&2; }

target=${1:?usage: rootfs.sh TARGET_DIR LAUNCHER_PY}
launcher=${2:?usage: rootfs.sh TARGET_DIR LAUNCHER_PY}

# apt_mirror prints the URI of the first configured source that serves the
# Debian main archive (not -security or -updates), from deb822 .sources files
# or one-line .list files.
apt_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		awk '
			/^[ \t]*$/ { if (uri != "" && main) { print uri; exit } uri = ""; main = 0; next }
			tolower($1) == "uris:" { uri = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i !~ /-(security|updates|backports)$/) main = 1 }
			END { if (uri != "" && main) print uri }
		' "$f" | head -n1
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		awk '$1 == "deb" {
			i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i+1) !~ /-(security|updates|backports)$/) print $i
		}' "$f"
	done
}

mirror=${SANDBOX_MIRROR:-$(apt_mirror | grep -m1 -i debian || true)}
if [[ -z $mirror ]]; then
	log "no Debian mirror found in /etc/apt/sources.list{,.d}; set SANDBOX_MIRROR"
	exit 1
fi
command -v debootstrap >/dev/null || { log "debootstrap is not installed (scripts/setup-docker.sh installs it)"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
full=$work/full

log "debootstrap $SUITE from $mirror"
cache=${SANDBOX_DEB_CACHE:-/var/cache/coderunner/debs}
mkdir -p "$cache"
debootstrap --variant=minbase --include="$PYTHON" --cache-dir="$cache" \
	"$SUITE" "$full" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -n 30 "$work/debootstrap.log" >&2
	exit 1
}

# The list of paths to keep, resolved inside the full system so that the
# dynamic loader's view (ldconfig cache, merged /usr) is the one that counts.
cat >"$full/keep.sh" <<'EOF'
set -euo pipefail
PYTHON=$1
stdlib=/usr/lib/$PYTHON
{
	# merged-/usr links, the interpreter and its name without the version
	echo /bin; echo /lib; echo /lib64; echo /sbin
	echo /usr/bin/$PYTHON
	# the standard library with its compiled modules (the image is read-only,
	# so a missing .pyc would be compiled again at every import), less what a
	# sandboxed program cannot use
	find "$stdlib" \( -name test -o -name tests -o -name idlelib -o -name tkinter \
		-o -name turtledemo -o -name ensurepip -o -name lib2to3 -o -name 'config-*' \) \
		-prune -o -print
	echo /etc/os-release; echo /usr/lib/os-release
	# every shared library the binary and the extension modules need
	for elf in /usr/bin/$PYTHON "$stdlib"/lib-dynload/*.so; do
		ldd "$elf" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
	done | sort -u | while read -r lib; do
		# the name as the loader looks it up (often a link), under its real
		# directory so nothing is written through /lib -> usr/lib, and the file
		echo "$(readlink -f "$(dirname "$lib")")/$(basename "$lib")"
		readlink -f "$lib"
	done
} | sort -u
EOF
chroot "$full" /bin/bash /keep.sh "$PYTHON" >"$work/keep.list"
# dpkg's view of what went in, for anyone auditing an image
# shellcheck disable=SC2016 # the format is dpkg-query's, not the shell's
chroot "$full" dpkg-query -W -f '${Package} ${Version}\n' "$PYTHON" "lib$PYTHON-minimal" "lib$PYTHON-stdlib" libc6 >"$work/packages.txt"

log "assembling $(wc -l <"$work/keep.list") paths into $target"
rm -rf "$target"
mkdir -p "$target"
tar -C "$full" --no-recursion -cf - -T <(sed 's|^/||' "$work/keep.list") | tar -C "$target" -xf -

# Mount points Docker fills in, the only writable place (/tmp, a tmpfs at
# run time) and the sandbox user, which owns nothing in the image.
mkdir -p "$target"/{dev,proc,sys,tmp,etc,opt/coderunner}
ln -s "$PYTHON" "$target/usr/bin/python3"
chmod 1777 "$target/tmp"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n' >"$target/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$target/etc/group"
install -m 0644 "$launcher" "$target/opt/coderunner/launcher.py"
install -m 0644 "$work/packages.txt" "$target/opt/coderunner/packages.txt"

log "done: $(du -sh "$target" | cut -f1)"
