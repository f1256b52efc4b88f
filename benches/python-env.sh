# Sourced by the bench scripts and .ci/run, and run by the tests: makes sure
# benches/.venv holds exactly the packages of benches/requirements.txt (installed again
# whenever that file changed) and sets $venv to it. One installer at a time, across
# test processes too (the lock the tests' Python helpers take).
venv=benches/.venv
requirements=benches/requirements.txt
mkdir -p target
(
  flock 9
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if ! cmp -s "$requirements" "$venv/requirements.installed"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" &&
      cp "$requirements" "$venv/requirements.installed"
  fi
) 9>target/venv-install.lock
