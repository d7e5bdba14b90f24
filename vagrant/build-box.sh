#!/usr/bin/env bash
# Build a local Debian 12 (bookworm) box for vagrant-libvirt and for the boot test, from the
# Debian mirror only, so booting the demo needs no box download (tests/vm/test_vagrant_up.py).
#
# Usage: build-box.sh [--out DIR] [--pubkey FILE] [--mirror URL] [--size SIZE]
#
#   --out DIR      where to write the box (default build/box): rootfs.qcow2, vmlinuz, initrd.img,
#                  and flowcep-debian12.box (box.img + metadata.json + Vagrantfile for libvirt)
#   --pubkey FILE  SSH public key authorised for the `vagrant` user (default: Vagrant's
#                  published insecure key, found in the vagrant package; vagrant replaces it
#                  with a fresh key on the first `vagrant up`)
#   --mirror URL   Debian mirror (default http://deb.debian.org/debian)
#   --size SIZE    size of the root file system (default 6G; the qcow2 file grows on demand)
#
# Needs root (mmdebstrap, mke2fs -d), no loop devices: the root file system is an ext4 image
# without a partition table, and the kernel boots it directly (-kernel/-initrd), which the box's
# Vagrantfile tells vagrant-libvirt too. Rebuilding is skipped when DIR holds a box built from
# the same inputs (stamp file), so callers may run it every time.
set -euo pipefail

usage() {
    sed -n '2,19s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

out="build/box"
pubkey=""
mirror="http://deb.debian.org/debian"
size="6G"
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        --pubkey) pubkey="${2:?--pubkey needs a file}"; shift 2 ;;
        --mirror) mirror="${2:?--mirror needs a URL}"; shift 2 ;;
        --size) size="${2:?--size needs a size such as 6G}"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "build-box.sh: unknown argument: $1" >&2; usage ;;
    esac
done

log() { printf 'build-box.sh: %s\n' "$*"; }
die() { printf 'build-box.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root (mmdebstrap and mke2fs -d need it): sudo $0 $*"
for tool in mmdebstrap mke2fs qemu-img; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install mmdebstrap e2fsprogs qemu-utils"
done
if [ -z "$pubkey" ]; then
    pubkey=$(find /usr/share/rubygems-integration /usr/lib/ruby /opt/vagrant /usr/share/vagrant \
        -path '*vagrant*/keys/vagrant.pub' -print -quit 2>/dev/null || true)
    [ -n "$pubkey" ] || die "no --pubkey given and Vagrant's insecure key (keys/vagrant.pub) was not found: install vagrant or pass --pubkey FILE"
fi
[ -s "$pubkey" ] || die "--pubkey $pubkey is missing or empty"

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Packages: what provision.sh installs, so that provisioning needs no mirror in the box.
packages="linux-image-amd64,systemd-sysv,udev,openssh-server,sudo,ca-certificates,curl,gnupg,tar,rsync,python3,python3-venv,iproute2,procps,less"
stamp_text=$(printf '%s\n' "$packages" "$mirror" "$size" "$(cat "$pubkey")" "$(sha256sum <"$0")")
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp_text" ] \
    && [ -s "$out/rootfs.qcow2" ] && [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; then
    log "box in $out is up to date (delete $out/stamp to rebuild)"
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/flowcep-box.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"

log "mmdebstrap bookworm from $mirror (a few minutes)"
# The customize hooks run on the host with the chroot as $1: no network needed in them.
# force-unsafe-io: no fsync per unpacked file; the tree is copied into an image afterwards, so
# a crash costs a rebuild, nothing more.
# shellcheck disable=SC2016  # $1 is expanded by mmdebstrap, in the hook, not here
mmdebstrap --variant=important --include="$packages" --dpkgopt=force-unsafe-io \
    --customize-hook='echo flowcep-demo >"$1/etc/hostname"' \
    --customize-hook='printf "127.0.0.1 localhost\n127.0.1.1 flowcep-demo\n::1 localhost ip6-localhost ip6-loopback\n" >"$1/etc/hosts"' \
    --customize-hook='printf "/dev/vda / ext4 errors=remount-ro 0 1\n" >"$1/etc/fstab"' \
    --customize-hook='printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n" >"$1/etc/systemd/network/80-dhcp.network"' \
    --customize-hook='chroot "$1" systemctl enable systemd-networkd.service ssh.service' \
    --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer' \
    --customize-hook='chroot "$1" useradd --create-home --shell /bin/bash --user-group vagrant' \
    --customize-hook='echo vagrant:vagrant | chroot "$1" chpasswd' \
    --customize-hook='printf "vagrant ALL=(ALL) NOPASSWD: ALL\nDefaults:vagrant !requiretty\n" >"$1/etc/sudoers.d/vagrant"; chmod 0440 "$1/etc/sudoers.d/vagrant"' \
    --customize-hook="install -d -m 0700 \"\$1/home/vagrant/.ssh\"; install -m 0600 '$pubkey' \"\$1/home/vagrant/.ssh/authorized_keys\"; chroot \"\$1\" chown -R vagrant:vagrant /home/vagrant/.ssh" \
    --customize-hook='printf "UseDNS no\n" >"$1/etc/ssh/sshd_config.d/vagrant.conf"' \
    --customize-hook='rm -f "$1/etc/machine-id" "$1/var/lib/dbus/machine-id"; : >"$1/etc/machine-id"' \
    --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*_key*' \
    --customize-hook='printf "[Unit]\nDescription=SSH host keys\nBefore=ssh.service\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n[Install]\nWantedBy=multi-user.target\n" >"$1/etc/systemd/system/ssh-hostkeys.service"; chroot "$1" systemctl enable ssh-hostkeys.service' \
    bookworm "$root" "$mirror"

log "kernel and initrd"
cp "$(readlink -f "$root/vmlinuz")" "$work/vmlinuz"
cp "$(readlink -f "$root/initrd.img")" "$work/initrd.img"

log "ext4 root file system ($size) from the tree"
mke2fs -q -t ext4 -L flowcep-root -d "$root" "$work/rootfs.raw" "$size"
qemu-img convert -O qcow2 "$work/rootfs.raw" "$work/rootfs.qcow2"
rm -f "$work/rootfs.raw"
mv "$work/rootfs.qcow2" "$work/vmlinuz" "$work/initrd.img" "$out/"

log "vagrant-libvirt box"
boxdir="$work/box"
mkdir -p "$boxdir"
ln "$out/rootfs.qcow2" "$boxdir/box.img" 2>/dev/null || cp "$out/rootfs.qcow2" "$boxdir/box.img"
cp "$out/vmlinuz" "$out/initrd.img" "$boxdir/"
virtual_gb=$(qemu-img info --output=json "$out/rootfs.qcow2" |
    python3 -c 'import json,sys; print(-(-json.load(sys.stdin)["virtual-size"] // 2**30))')
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %s}\n' "$virtual_gb" >"$boxdir/metadata.json"
install -m 0644 "$here/box.Vagrantfile" "$boxdir/Vagrantfile"
# Uncompressed: vagrant accepts plain tar boxes, and gzip of the image would take minutes here.
tar -C "$boxdir" -cf "$out/flowcep-debian12.box.tmp" .
mv "$out/flowcep-debian12.box.tmp" "$out/flowcep-debian12.box"

printf '%s\n' "$stamp_text" >"$out/stamp"
log "done: $out (vagrant box add --name flowcep/debian12 $out/flowcep-debian12.box)"
