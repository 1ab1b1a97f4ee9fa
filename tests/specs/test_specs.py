"""Job specs: native YAML (SkyPilot-like) and sbatch import, with errors that name the field."""

from __future__ import annotations

import pytest

from hexagrid.domain import JobKind, Objective, SovereigntyTier
from hexagrid.errors import ValidationFailed
from hexagrid.specs import parse_duration_s, parse_sbatch, parse_spec, parse_yaml
from hexagrid.specs.sbatch import slurm_time_s

FULL = """
name: llama-ft
resources:
  accelerators: {H100: 8}
  cpus: 64+
  memory: 512
num_nodes: 2
envs:
  MODEL: llama-3-8b
  DEBUG: true
setup: pip install -r requirements.txt
run: torchrun train.py
kind: fine_tuning
residency: [FR, DE]
sovereignty: secnumcloud
deadline: 2030-01-02T00:00:00Z
objective: carbon
preemptible: true
checkpoint: {interval: 30m, signal: SIGUSR1}
expected_duration: 3h
walltime: 1d
priority: 5
project: llm
max_price_eur_per_gpu_h: 3.5
"""


def test_full_native_spec() -> None:
    r = parse_yaml(FULL, "job.yaml")
    assert r.name == "llama-ft" and r.kind is JobKind.FINE_TUNING
    assert r.resources.accelerators == ("H100",) and r.resources.gpus_per_node == 8 and r.resources.num_nodes == 2
    assert r.resources.gpus == 16 and r.resources.cpus == 64 and r.resources.memory_gb == 512
    assert r.envs == {"MODEL": "llama-3-8b", "DEBUG": "true"}
    assert r.residency.allows("DE") and not r.residency.allows("IT")
    assert r.min_tier is SovereigntyTier.SECNUMCLOUD and r.objective is Objective.CARBON
    assert r.checkpoint_interval_s == 1800 and r.checkpoint_signal == "SIGUSR1"
    assert r.expected_duration_s == 3 * 3600 and r.walltime_s == 86400
    assert r.deadline_s == 1893542400.0
    spec = r.to_jobspec(job_id="j-1", tenant="acme", submit_s=1.8e9)
    assert spec.deadline_s == 1893542400.0 and spec.preemptible and spec.priority == 5 and spec.project == "llm"


def test_defaults_and_candidates() -> None:
    r = parse_spec("resources: {accelerators: [H100:8, h200:8]}\nrun: x\n")
    assert r.resources.accelerators == ("H100", "H200") and r.resources.gpus == 8
    assert r.expected_duration_s == 3600 and r.walltime_s is None and r.residency.scope == "ANY"
    svc = parse_spec("resources: {accelerators: L40S}\nrun: serve\nkind: inference\n")
    assert svc.is_service and svc.expected_duration_s == 7 * 86400 and svc.resources.gpus == 1


@pytest.mark.parametrize(
    ("text", "loc", "needle"),
    [
        ("resources: {accelerators: H900:8}\nrun: x", "resources.accelerators", "H900"),
        ("resources: {accelerators: H100:8, gpus: 3}\nrun: x", "resources.gpus", "unknown field"),
        ("resources: {accelerators: [H100:8, A100:4]}\nrun: x", "resources.accelerators", "same count"),
        ("resources: {accelerators: H100:8}\nrun: x\nnum_nodes: 0", "num_nodes", "greater than or equal to 1"),
        ("resources: {accelerators: H100:8}\nrun: x\nsovereignty: top", "sovereignty", "secnumcloud"),
        ("resources: {accelerators: H100:8}\nrun: x\nenvs: {1BAD: x}", "envs.1BAD", "letters"),
        ("resources: {accelerators: H100:8}\nrun: x\nexpected_duration: 2h\nwalltime: 1h", "walltime", ">="),
        ("resources: {accelerators: H100:8}\nrun: x\ncheckpoint: {interval: -5}", "checkpoint.interval", "> 0"),
        ("resources: {accelerators: H100:8}\nrun: x\nresidency: [FR, xx]", "residency", "xx"),
        ("resources: {accelerators: H100:8}\nrun: x\nname: 'bad name!'", "name", "bad name!"),
        ("resources: {cpus: 4}\nrun: x", "resources.accelerators", "required"),
        ("run: x", "resources", "Field required"),
        ("resources: {accelerators: H100:8}\nrun: ''", "run", "required"),
        ("resources: {accelerators: H100:8\nrun: x", "line", "not valid YAML"),
    ],
)
def test_errors_name_field_and_value(text: str, loc: str, needle: str) -> None:
    with pytest.raises(ValidationFailed) as ei:
        parse_spec(text, "job.yaml")
    assert any(e.path.startswith(loc) and (needle in e.message or needle in e.path) for e in ei.value.errors), (
        ei.value.errors
    )
    assert all(line.startswith("job.yaml: ") for line in ei.value.lines())


def test_all_errors_at_once() -> None:
    with pytest.raises(ValidationFailed) as ei:
        parse_spec("resources: {accelerators: H900:8, cpus: lots}\nrun: x\nwalltime: soon", "j.yaml")
    assert {e.path for e in ei.value.errors} == {"resources.accelerators", "resources.cpus", "walltime"}


def test_durations() -> None:
    assert parse_duration_s("1h30m", "f") == 5400 and parse_duration_s("01:30:00", "f") == 5400
    assert (
        parse_duration_s(90, "f") == 90 and parse_duration_s("2d", "f") == 172800 and parse_duration_s("45", "f") == 45
    )
    for bad in ("", "abc", "0", -1, True, "1x"):
        with pytest.raises(ValueError):
            parse_duration_s(bad, "f")
    assert slurm_time_s("30") == 1800 and slurm_time_s("1:30") == 90 and slurm_time_s("2:00:00") == 7200
    assert slurm_time_s("1-12") == 129600 and slurm_time_s("1-00:30") == 88200 and slurm_time_s("0-0:0:5") == 5
    with pytest.raises(ValueError):
        slurm_time_s("0")


SBATCH = """#!/bin/bash
#SBATCH --job-name="my job"
#SBATCH -N 4
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=a100:8
#SBATCH -t 2-00:00:00
#SBATCH -A GENCI-AD011  # allocation
#SBATCH -p gpu_p5
#SBATCH --mem=500G
#HEXAGRID residency=FR objective=carbon preemptible=true
srun python train.py
"""


def test_sbatch_import() -> None:
    r = parse_sbatch(SBATCH, "job.sbatch")
    assert (
        r.name == "my-job" and r.resources.num_nodes == 4 and r.resources.gpus_per_node == 8 and r.resources.gpus == 32
    )
    assert r.resources.accelerators == ("A100",) and r.walltime_s == 2 * 86400 and r.expected_duration_s == 2 * 86400
    assert r.project == "genci-ad011" and r.partition == "gpu_p5" and r.resources.memory_gb == 500
    assert r.residency.scope == "FR" and r.objective is Objective.CARBON and r.preemptible
    assert r.envs["HEXAGRID_NTASKS_PER_NODE"] == "8"
    assert r.run == SBATCH and r.source_format == "sbatch"


@pytest.mark.parametrize(
    ("lines", "gpus", "per_node", "accel"),
    [
        ("#SBATCH --gres=gpu:4\n#SBATCH --partition=h100", 4, 4, "H100"),
        ("#SBATCH --gpus=16 -N 2\n#HEXAGRID accelerator=H200", 16, 8, "H200"),
        ("#SBATCH --gpus h100:8", 8, 8, "H100"),
        ("#SBATCH --gres=gpu:l40s:2 --nodes 3", 6, 2, "L40S"),
    ],
)
def test_sbatch_gpu_forms(lines: str, gpus: int, per_node: int, accel: str) -> None:
    r = parse_sbatch(f"#!/bin/sh\n{lines}\nhostname\n")
    assert (r.resources.gpus, r.resources.gpus_per_node, r.resources.accelerators) == (gpus, per_node, (accel,))


@pytest.mark.parametrize(
    ("lines", "loc", "needle"),
    [
        ("#SBATCH --gres=gpu:h100:8\n#SBATCH --exclusive", "#SBATCH --exclusive (line 3)", "unsupported directive"),
        ("#SBATCH --gres=gpu:h100:8 --array=1-10", "#SBATCH --array", "unsupported directive"),
        ("#SBATCH --gres=mps:100", "#SBATCH --gres", "only GPU"),
        ("#SBATCH --gres=gpu:h900:8", "#SBATCH --gres", "unknown GPU type"),
        ("#SBATCH --gpus=10 -N 3 --partition=h100", "#SBATCH --gpus", "divide"),
        ("#SBATCH --gpus=8 --gpus-per-node=2 -N 2 -p h100", "#SBATCH --gpus", "disagrees"),
        ("#SBATCH --gres=gpu:8", "#SBATCH", "no GPU type"),
        ("#SBATCH --mem=lots --gres=gpu:h100:1", "#SBATCH --mem", "lots"),
        ("#SBATCH --job-name", "#SBATCH --job-name", "needs a value"),
        ("#HEXAGRID colour=blue\n#SBATCH --gres=gpu:h100:1", "line 2", "#HEXAGRID"),
    ],
)
def test_sbatch_errors(lines: str, loc: str, needle: str) -> None:
    with pytest.raises(ValidationFailed) as ei:
        parse_sbatch(f"#!/bin/sh\n{lines}\nhostname\n", "job.sbatch")
    assert any(e.path.startswith(loc) and needle in e.message for e in ei.value.errors), ei.value.errors


def test_parse_spec_tells_formats_apart() -> None:
    assert parse_spec("#SBATCH --gres=gpu:h100:1\nhostname").source_format == "sbatch"
    assert parse_spec("resources: {accelerators: H100:1}\nrun: hostname").source_format == "yaml"
