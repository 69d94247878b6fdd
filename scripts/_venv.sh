#!/usr/bin/env bash
# Shared by scripts/run.sh and scripts/test.sh: find Python 3.12, create .venv, install.
# Source it from the repository root; it defines py312, find_python, installed, ensure_venv.

# --- find a Python 3.12 interpreter (pyenv shims fail unless the version is selected) ---------
py312() {  # print the real path of the interpreter "$@" if it is Python 3.12, else fail
    "$@" -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' \
        2>/dev/null
}

find_python() {
    local exe version root=""
    if [[ -n "${BUBBLE_ABM_PYTHON:-}" ]]; then
        py312 "$BUBBLE_ABM_PYTHON" && return 0
        echo "error: BUBBLE_ABM_PYTHON=$BUBBLE_ABM_PYTHON is not a Python 3.12 interpreter" >&2
        return 1
    fi
    py312 python3.12 && return 0
    if command -v pyenv >/dev/null 2>&1; then
        for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.|$)' | sort -rV); do
            PYENV_VERSION="$version" py312 python3.12 && return 0
            exe="$(PYENV_VERSION="$version" pyenv which python3.12 2>/dev/null)" \
                && py312 "$exe" && return 0
        done
        root="$(pyenv root 2>/dev/null || true)"
    fi
    for exe in ${root:+"$root"/versions/3.12*/bin/python3.12} \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 \
        /root/.pyenv/versions/3.12*/bin/python3.12 \
        /usr/local/bin/python3.12 /usr/bin/python3.12 python3 python; do
        [[ "$exe" == *"*"* ]] && continue  # a glob that matched nothing
        py312 "$exe" && return 0
    done
    echo "error: no Python 3.12 interpreter found (tried python3.12, pyenv 3.12.x," \
        "~/.pyenv/versions/3.12*, /usr/bin/python3.12, python3)." >&2
    echo "Install Python 3.12 (Mesa 3.5 needs it) or set BUBBLE_ABM_PYTHON=/path/to/python3.12." >&2
    return 1
}

# --- create .venv and install the project -----------------------------------------------------
# The install is editable, so code changes need no reinstall; it is redone only when
# pyproject.toml changes (a stamp in .venv records what was installed, per set of extras).
installed() {  # installed EXTRAS...: true if one of these installs is current
    local extras
    for extras in "$@"; do
        [[ -f ".venv/.installed-$extras" ]] && cmp -s pyproject.toml ".venv/.installed-$extras" \
            && return 0
    done
    return 1
}

ensure_venv() {  # ensure_venv SPEC EXTRAS [EXTRAS that also satisfy it...]
    local spec="$1" extras="$2" python
    if [[ ! -x .venv/bin/python ]] || ! py312 .venv/bin/python >/dev/null; then
        python="$(find_python)" || exit 1
        if [[ -e .venv ]]; then
            echo "Recreating .venv (it does not run Python 3.12) with $python" >&2
            "$python" -m venv --clear .venv
        else
            echo "Creating .venv with $python" >&2
            "$python" -m venv .venv
        fi
    fi
    shift
    if ! installed "$@"; then
        echo "Installing bubble_abm ($spec) into .venv ..." >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
        cp pyproject.toml ".venv/.installed-$extras"
    fi
}
