"""The records mmengine logs for a run, read back (tools/quickstart.py, the tools' tests)."""
import json
import os
import os.path as osp


def run_records(work_dir):
    """All logged records of the newest run in ``work_dir``: ``vis_data/scalars.json`` of a
    training run, ``<timestamp>.json`` of a test run (which has no scalars file)."""
    # mmengine names a run's folder by its timestamp and writes <timestamp>.log in it, or only
    # <timestamp>.json when the log goes elsewhere (mmdeploy's test runner).
    runs = sorted(d for d in os.listdir(work_dir) if any(
        osp.exists(osp.join(work_dir, d, f'{d}.{ext}')) for ext in ('log', 'json')))
    if not runs:
        raise RuntimeError(f'no run logs in {work_dir}')
    run = osp.join(work_dir, runs[-1])
    path = osp.join(run, 'vis_data', 'scalars.json')
    if not osp.exists(path):
        path = osp.join(run, f'{runs[-1]}.json')
    with open(path) as f:
        return [json.loads(line) for line in f]


def last_metric(work_dir, key):
    """The last ``key`` value logged by the newest run (training or test) in ``work_dir``."""
    values = [r[key] for r in run_records(work_dir) if key in r]
    if not values:
        raise RuntimeError(f'no {key} in the newest run of {work_dir}')
    return values[-1]
