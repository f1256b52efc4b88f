# Sourced by the bench scripts: makes sure benches/.venv has oslo.service (from PyPI,
# with the threading backend's extras) and sets $venv to it.
venv=benches/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet "oslo.service[threading]"
fi
