"""Schema 5: the sparsity weights leave the trials of methods that do not train sparsity.

Until schema 4 every method's resolved parameters carried ``beta1``/``beta2`` (the GrOWL
weights of the sparsity objective L0), so every trial key hashed them. Now only
``linear`` and ``wc_al`` take them. For a trial of any other method this revision drops
them from ``trials.params`` and from the config's ``method.params`` and gives the trial
the key today's expansion computes for it, so a rerun of its sweep finds it done. Points,
sweep links, statuses and the other columns stay; ``pack`` references follow the new
keys. No table changes shape.

The key is recomputed with a copy of the key algorithm as it was at this revision (the
SHA-256 of the canonical JSON of the trial's identity, first 16 hex digits), frozen here
so that later changes to contract/ cannot change what this migration does. It is only
recomputed where the stored key is that algorithm's key of the stored config; a key made
otherwise (by hand, through the store API) is kept, and so are the params of linear and
wc_al trials. Stored sweep specs are records and are not rewritten: a spec that set
``beta1`` for another method is refused by name when it is run again.

Collisions: trials that differed only in their weights (a sweep over ``beta1`` for
COSMOS) trained identically, since those methods never trained L0; they now share one
key. One of them is kept: a done one first, then one whose weights were the paper's
(0.8/0.2; the ``sparsity`` metric a rerun would store), then the oldest. The others are
deleted with their points, task scores, metrics and epochs, and their sweeps are linked
to the kept trial instead.

Revision ID: 0005
Revises: 0004
"""
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: the methods that keep the weights, and the weights with the paper's values
KEEP = ("linear", "wc_al")
SPARSITY = {"beta1": 0.8, "beta2": 0.2}
#: the training settings' defaults at this revision, which fill a partial stored ``train``
TRAIN_DEFAULTS = {"epochs": 10, "batch_size": 128, "eval_batch_size": 1024, "lr": 1e-3,
                  "lr_decay": 1.0, "epochs_per_iteration": 1, "optimizer": "adam",
                  "momentum": 0.9, "checkpoint": "best_val", "device": "auto"}
#: settings that say where a trial runs, not what it is (not in the key)
RUNTIME = ("device",)
#: trials deleted per statement
CHUNK = 500

trials = sa.table("trials", sa.column("id", sa.Integer), sa.column("key", sa.String),
                  sa.column("method", sa.String), sa.column("status", sa.String),
                  sa.column("params", sa.JSON), sa.column("config", sa.JSON),
                  sa.column("pack", sa.String))
points = sa.table("points", sa.column("id", sa.Integer), sa.column("trial_id", sa.Integer))
sweep_trials = sa.table("sweep_trials", sa.column("sweep_id", sa.Integer),
                        sa.column("trial_id", sa.Integer))


def frozen_key(config: dict[str, Any]) -> str:
    """The trial key of a stored config, as computed at this revision; KeyError,
    TypeError or AttributeError for a config that is not a full trial."""
    def component(part: dict[str, Any], options_key: str) -> dict[str, Any]:
        name = part["name"]
        if not isinstance(name, str):
            raise TypeError(name)
        return {"name": name, options_key: dict(part.get(options_key) or {})}

    given = {k: v for k, v in (config.get("train") or {}).items() if v is not None}
    if set(given) - set(TRAIN_DEFAULTS):
        raise KeyError(sorted(set(given) - set(TRAIN_DEFAULTS))[0])
    train = {k: v for k, v in {**TRAIN_DEFAULTS, **given}.items() if k not in RUNTIME}
    preference = config.get("preference")
    identity = {
        "dataset": component(config["dataset"], "options"),
        "arch": component(config["arch"], "options"),
        "method": component(config["method"], "params"),
        "preference": None if preference is None else list(preference),
        "seed": config["seed"],
        "train": train,
    }
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def without_weights(params: Any) -> Any:
    return {k: v for k, v in params.items() if k not in SPARSITY} if isinstance(params, dict) else params


def rewritten(row) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(key, params, config) of a trial that loses its weights, or None if it has none."""
    params, config = row.params or {}, row.config or {}
    method = config.get("method") if isinstance(config, dict) else None
    method_params = method.get("params") if isinstance(method, dict) else None
    has = [p for p in (params, method_params) if isinstance(p, dict) and SPARSITY.keys() & p.keys()]
    if not has:
        return None
    new_config = dict(config)
    if isinstance(method, dict):
        new_config["method"] = {**method, "params": without_weights(method_params)}
    key = row.key
    try:
        if frozen_key(config) == row.key:
            key = frozen_key(new_config)
    except (KeyError, TypeError, AttributeError):
        pass  # not a full trial config: its key was not made by the algorithm
    if "key" in new_config:
        new_config["key"] = key
    return key, without_weights(params), new_config


def paper_weights(params: Any) -> bool:
    params = params if isinstance(params, dict) else {}
    return all(params.get(name, value) == value for name, value in SPARSITY.items())


def upgrade() -> None:
    conn = op.get_bind()
    changes = {}
    rows = conn.execute(sa.select(trials.c.id, trials.c.key, trials.c.params, trials.c.config)
                        .where(trials.c.method.notin_(KEEP))).all()
    for row in rows:
        change = rewritten(row)
        if change is not None:
            changes[row.id] = (row, change)
    if changes:
        rewrite(conn, changes)
    op.execute("""UPDATE meta SET value = '5' WHERE "key" = 'schema_version'""")


def rewrite(conn, changes: dict[int, tuple]) -> None:
    """Give the trials in ``changes`` (id -> (row, (key, params, config))) their new
    values; of trials that now share a key, keep one and delete the others."""
    everyone = conn.execute(sa.select(trials.c.id, trials.c.key, trials.c.status,
                                      trials.c.params)).all()
    groups: dict[str, list] = {}
    for row in everyone:
        final = changes[row.id][1][0] if row.id in changes else row.key
        groups.setdefault(final, []).append(row)
    renamed = {row.key: final for final, members in groups.items() for row in members
               if row.key != final}
    losers: dict[int, int] = {}  # deleted trial id -> the kept trial's id
    for members in groups.values():
        if len(members) > 1:
            kept, *others = sorted(members, key=lambda r: (r.status != "done",
                                                           not paper_weights(r.params), r.id))
            losers.update({r.id: kept.id for r in others})

    if losers:
        links = conn.execute(sa.select(sweep_trials.c.sweep_id, sweep_trials.c.trial_id)).all()
        linked = {(link.sweep_id, link.trial_id) for link in links}
        moved = {(link.sweep_id, losers[link.trial_id]) for link in links
                 if link.trial_id in losers} - linked
        if moved:
            conn.execute(sweep_trials.insert(), [{"sweep_id": s, "trial_id": t} for s, t in sorted(moved)])
        ids = sorted(losers)
        for start in range(0, len(ids), CHUNK):  # SQLite bounds the parameters of a statement
            delete_trials(conn, ids[start:start + CHUNK])

    kept = [(row, change) for trial_id, (row, change) in changes.items() if trial_id not in losers]
    kept_keys(conn, kept, renamed)


def delete_trials(conn, gone: list[int]) -> None:
    """Delete trials with their points, task scores, metrics, epochs and sweep links."""
    point_ids = sa.select(points.c.id).where(points.c.trial_id.in_(gone)).scalar_subquery()
    for name in ("point_metrics", "point_tasks"):  # SQLite migrates with foreign keys off
        table = sa.table(name, sa.column("point_id", sa.Integer))
        conn.execute(table.delete().where(table.c.point_id.in_(point_ids)))
    conn.execute(points.delete().where(points.c.trial_id.in_(gone)))
    for name in ("epochs", "sweep_trials"):
        table = sa.table(name, sa.column("trial_id", sa.Integer))
        conn.execute(table.delete().where(table.c.trial_id.in_(gone)))
    conn.execute(trials.delete().where(trials.c.id.in_(gone)))


def kept_keys(conn, kept: list, renamed: dict[str, str]) -> None:
    """Write the kept trials' keys, params and configs; point packs at the new keys."""
    by_id = sa.bindparam("b_id")
    if kept:  # through placeholders first, so no two rows ever hold one key (it is unique)
        conn.execute(trials.update().where(trials.c.id == by_id).values(key=sa.bindparam("b_key")),
                     [{"b_id": row.id, "b_key": f"~{row.id:015x}"} for row, _ in kept])
        conn.execute(trials.update().where(trials.c.id == by_id).values(
            key=sa.bindparam("b_key"), params=sa.bindparam("b_params", type_=sa.JSON),
            config=sa.bindparam("b_config", type_=sa.JSON)),
            [{"b_id": row.id, "b_key": key, "b_params": params, "b_config": config}
             for row, (key, params, config) in kept])
    if renamed:
        conn.execute(trials.update().where(trials.c.pack == sa.bindparam("b_old"))
                     .values(pack=sa.bindparam("b_new")),
                     [{"b_old": old, "b_new": new} for old, new in renamed.items()])


def downgrade() -> None:
    raise RuntimeError("paretoctl stores are only upgraded: keep a copy to go back")  # by design
