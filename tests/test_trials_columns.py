"""``paretoctl trials`` shows where and how each trial ran: node (shortened), attempts
(> 1), pack (first 8 hex) and precision in the table only where some trial has them set,
and always, as stored, in CSV and JSON."""
import json
import sqlite3

from orchestrator.cli import short_nodes
from test_cli import csv_rows, invoke, stored  # noqa: F401  (the fixture)

NODE_A = "10.0.0.5/" + "a1" * 28
NODE_B = "10.0.0.5/" + "b2" * 28
NODE_C = "10.0.0.7/" + "c3" * 28


def set_run(key: int, **values) -> None:
    with sqlite3.connect("paretoctl.db") as conn:
        for name, value in values.items():  # names are this test's constants
            conn.execute(f"UPDATE trials SET {name} = ? WHERE key = ?", (value, f"{key:016x}"))


def table_header(stdout: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if "key" in line and "status" in line)
    return line.replace("┃", " ").replace("|", " ").split()


def test_nodes_are_their_ip_unless_two_share_it():
    assert short_nodes([NODE_A, NODE_C, None]) == {NODE_A: "10.0.0.5", NODE_C: "10.0.0.7"}
    assert short_nodes([NODE_A, NODE_B, NODE_C, NODE_A]) == {
        NODE_A: "10.0.0.5/a1a1a1a1", NODE_B: "10.0.0.5/b2b2b2b2", NODE_C: "10.0.0.7"}
    assert short_nodes(["10.0.0.5", NODE_A]) == {"10.0.0.5": "10.0.0.5", NODE_A: "10.0.0.5/a1a1a1a1"}


def test_unset_run_columns_stay_out_of_the_table_but_not_out_of_csv_and_json(stored):  # noqa: F811
    set_run(0, attempts=1)  # one attempt is the normal case: nothing to show
    result = invoke("trials")
    assert result.exit_code == 0, result.stderr
    header = table_header(result.stdout)
    assert header[-1] == "time_train_s" and not {"node", "attempts", "pack", "precision"} & set(header)
    rows = csv_rows(invoke("trials", "--format", "csv").stdout)
    assert list(rows[0])[-4:] == ["node", "attempts", "pack", "precision"]
    assert [(r["node"], r["attempts"], r["pack"], r["precision"]) for r in rows] == [
        ("", "1", "", ""), ("", "", "", "")]
    data = json.loads(invoke("trials", "--format", "json").stdout)["trials"]
    assert [(t["node"], t["attempts"], t["pack"], t["precision"]) for t in data] == [
        (None, 1, None, None), (None, None, None, None)]


def test_set_run_columns_show_shortened_in_the_table_and_whole_in_csv_and_json(stored):  # noqa: F811
    set_run(0, node=NODE_A, attempts=3, pack=f"{0:016x}", precision="bf16")
    set_run(1, node=NODE_B, attempts=1, pack=f"{0:016x}", precision="fp32")
    result = invoke("trials")
    assert result.exit_code == 0, result.stderr
    assert table_header(result.stdout)[-4:] == ["node", "attempts", "pack", "precision"]
    lines = [line.replace("│", " ").split() for line in result.stdout.splitlines()]
    first = next(cells for cells in lines if cells and cells[0] == f"{0:016x}")
    second = next(cells for cells in lines if cells and cells[0] == f"{1:016x}")
    assert first[-4:] == ["10.0.0.5/a1a1a1a1", "3", "00000000", "bf16"]
    assert second[-3:] == ["10.0.0.5/b2b2b2b2", "00000000", "fp32"]  # no attempts cell: 1
    data = json.loads(invoke("trials", "--format", "json").stdout)["trials"]
    assert [(t["node"], t["attempts"], t["pack"], t["precision"]) for t in data] == [
        (NODE_A, 3, f"{0:016x}", "bf16"), (NODE_B, 1, f"{0:016x}", "fp32")]
    rows = csv_rows(invoke("trials", "--format", "csv").stdout)
    assert (rows[0]["node"], rows[0]["attempts"], rows[0]["pack"]) == (NODE_A, "3", f"{0:016x}")


def test_only_the_columns_some_trial_has_are_added(stored):  # noqa: F811
    set_run(1, node=NODE_C)
    result = invoke("trials")
    assert table_header(result.stdout)[-2:] == ["time_train_s", "node"]
    assert "10.0.0.7" in result.stdout and NODE_C not in result.stdout
