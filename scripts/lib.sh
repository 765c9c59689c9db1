# lib.sh — what the setup scripts share; source it, do not run it.

# apt_install PACKAGE... installs Debian packages quietly and without their
# recommends, keeping any service they bring from starting while they
# install (unless the machine has a policy of its own already): the tests
# need the tools, and start what they need themselves.
apt_install() (
	export DEBIAN_FRONTEND=noninteractive
	policy=/usr/sbin/policy-rc.d
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "$@" >/dev/null
)
