# Sourced by the scripts users run: re-run the calling script as root, with
# sudo, when it is not root already -- so the README's commands work pasted as
# root on a minimal image (where sudo is often not installed) and as a user
# who has sudo.
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo --preserve-env=DPCTL_VENV,DPCTL_PYTHON,DPCTL_STATE_ROOT,DPCTL_FUZZ_EXAMPLES "$0" "$@"
  fi
  echo "$(basename "$0") needs root (network namespaces, netlink): run it as root" >&2
  exit 1
fi
