#!/usr/bin/env bash
# Installs the Debian packages rackctl's tests and demo use, if missing.
set -euo pipefail
pkgs=(openipmi ipmitool dnsmasq-base dnsmasq-utils busybox iproute2 git make gnupg openssh-client time systemd redfishtool prometheus chromium)
bins=(ipmi_sim ipmitool dnsmasq dhcp_release busybox ip git make gpg ssh-keygen /usr/bin/time systemd-analyze redfishtool promtool chromium)
missing=()
for i in "${!bins[@]}"; do
	command -v "${bins[$i]}" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "${bins[$i]}" >/dev/null 2>&1 || missing+=("${pkgs[$i]}")
done
# sushy (the simulated Redfish BMC's independent client) is a library of Debian's python3.
/usr/bin/python3 -c 'import sushy' >/dev/null 2>&1 || missing+=(python3-sushy)
# The web view's browser test (headless chromium) reads the state symbols in DejaVu.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all Debian packages present"
	exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
