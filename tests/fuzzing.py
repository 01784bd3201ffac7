"""Shared by the loader fuzz tests: any YAML value, and the one promise every loader keeps.

Whatever the input, a loader returns or raises one InputError whose message is one line naming
the file: never a traceback (that is what keeps `hisops validate`, `run` and `baseline check`
at exit 2 with a readable line).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from hisops.errors import InputError

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)


def loads_or_fails_in_one_line(load: Callable[[Path], Any], text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yml"
        path.write_text(text, encoding="utf-8")
        try:
            load(path)
        except InputError as exc:
            line = exc.one_line()
            # one line by every rule Python knows (U+2028 and friends included), not just \n
            assert len(line.splitlines()) == 1
            assert "fuzz.yml" in line
            assert "Traceback" not in line
