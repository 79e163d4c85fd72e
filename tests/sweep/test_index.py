"""The sweep index (``<root>/index.json``) read back: a damaged one is one line, exit 2."""

import pytest

from bambaprof.cli import main


@pytest.mark.parametrize("index, says", [
    ("[]", "not a sweep index"), ('{"configs": 5}', "not a sweep index"),
    ('{"configs": [null]}', "configuration 0 is null, not an object"),
    ('{"configs": [{"id": 1}]}', "configuration 0 has no plain run_id (None)"),
    ('{"configs": [{"run_id": "../../etc", "state": "done", "config": {}}]}', "no plain run_id ('../../etc')"),
    ('{"configs": [{"run_id": "a", "state": "lost", "config": {}}]}', "(a) has state 'lost'"),
    ('{"configs": [{"run_id": "a", "state": "done", "config": {"batch": "x"}}]}', "(a) has a config that does not"),
])
def test_a_damaged_sweep_index_is_one_line(tmp_path, capsys, index, says):
    """An index.json edited by hand or cut short: sweep status names the entry and what is wrong with it (it
    raised AttributeError, TypeError or KeyError; a run id with a path in it would have read outside the root)."""
    (tmp_path / "index.json").write_text(index)
    assert main(["sweep", "status", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]
