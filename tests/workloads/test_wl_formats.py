"""SWF and generic CSV loaders, format detection and the one-line DataErrors naming file, line and column."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from hexagrid.errors import DataError, InputError, NotFound
from hexagrid.workloads import load_csv, load_swf, load_trace

SWF = """\
; Version: 2.2
; Computer: test cluster
; MaxProcs: 64
;
    1      0   10   3600   8  -1 -1   8  7200 -1 1 1 1 -1 1 -1 -1 -1
    2     60    5    -1   4  -1 -1   4  3600 -1 5 2 1 -1 1 -1 -1 -1
    3    120    0    600  -1  -1 -1  16  1200 -1 1 3 1 -1 1 -1 -1 -1
    4     30    0      0   2  -1 -1   2   600 -1 5 2 1 -1 1 -1 -1 -1
    5    300    2   1800   1  -1 -1  -1  3600 -1 1 4 1 -1 1 -1 -1 -1
    6    400    2    900  -1  -1 -1  -1  3600 -1 1 4 1 -1 1 -1 -1 -1
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_swf_fields_and_minus_one_conventions(tmp_path: Path) -> None:
    t = load_swf(write(tmp_path / "small.swf", SWF))
    # jobs 2 (run -1), 4 (run 0) and 6 (processors unknown) are skipped
    assert t.job_id.tolist() == ["swf-1", "swf-3", "swf-5"]
    assert t.submit_s.tolist() == [0.0, 120.0, 300.0]
    assert t.duration_s.tolist() == [3600.0, 600.0, 1800.0]
    # job 3 has allocated -1: the requested 16 processors are used
    assert t.gpus.tolist() == [8, 16, 1]
    assert any("skipped 2 records" in n for n in t.notes)
    assert any("unknown processor count" in n for n in t.notes)


def test_swf_processors_per_gpu_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "small.swf.gz"
    path.write_bytes(gzip.compress(SWF.encode()))
    t = load_trace(path, processors_per_gpu=8)
    assert t.gpus.tolist() == [1, 2, 1]  # ceil(8/8), ceil(16/8), ceil(1/8)


def test_swf_wrong_field_count_names_line(tmp_path: Path) -> None:
    bad = SWF + "    7 500 0 60 1 -1 -1 1 60 -1 1 1 1\n"
    with pytest.raises(DataError, match=r"small\.swf: line 11: an SWF record has 18 fields, found 13"):
        load_swf(write(tmp_path / "small.swf", bad))


def test_swf_bad_number_names_line_and_field(tmp_path: Path) -> None:
    bad = SWF.replace("    3    120", "    3    1x0")
    with pytest.raises(DataError, match=r"line 7: field 2 \(submit_time\) must be a number, got '1x0'"):
        load_swf(write(tmp_path / "small.swf", bad))


def test_swf_processors_per_gpu_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="processors_per_gpu"):
        load_swf(write(tmp_path / "small.swf", SWF), processors_per_gpu=0)


CSV = """\
jid,start,length_min,n_gpu,pool
a,100,2,4,x
b,40,1.5,1,y
c,70,10,16,x
"""


def test_csv_mapping_seconds(tmp_path: Path) -> None:
    t = load_csv(
        write(tmp_path / "jobs.csv", CSV),
        {"id": "jid", "submit": "start", "duration": "length_min", "gpus": "n_gpu", "cluster": "pool"},
        duration_unit="min",
    )
    assert t.job_id.tolist() == ["b", "c", "a"]  # sorted by submit
    assert t.submit_s.tolist() == [0.0, 30.0, 60.0]
    assert t.duration_s.tolist() == [90.0, 600.0, 120.0]
    assert t.gpus.tolist() == [1, 16, 4]
    assert t.clusters == ("x", "y")
    assert t.cluster.tolist() == [1, 0, 0]
    assert t.gpu_hours() == pytest.approx((90 + 600 * 16 + 120 * 4) / 3600)


def test_csv_times_and_end_column(tmp_path: Path) -> None:
    text = "submit,end,gpus\n2024-01-01 10:00:00,2024-01-01 11:00:00,2\n2024-01-01 09:30:00,2024-01-01 09:45:30,1\n"
    path = write(tmp_path / "t.csv", text)
    t = load_csv(path, {"submit": "submit", "end": "end", "gpus": "gpus"}, time_format="%Y-%m-%d %H:%M:%S")
    assert t.duration_s.tolist() == [930.0, 3600.0]
    assert t.submit_s.tolist() == [0.0, 1800.0]
    assert t.job_id.tolist() == ["t-000001", "t-000000"]
    iso = write(tmp_path / "iso.csv", text.replace(" 1", "T1").replace(" 0", "T0"))
    t2 = load_csv(iso, {"submit": "submit", "end": "end", "gpus": "gpus"}, time_format="iso")
    assert t2.duration_s.tolist() == t.duration_s.tolist()
    assert t2.origin_s == t.origin_s


def test_csv_missing_column_lists_columns_found(tmp_path: Path) -> None:
    path = write(tmp_path / "jobs.csv", CSV)
    with pytest.raises(DataError, match=r"mapped column\(s\) not found: duration='dur'; columns found: jid, start"):
        load_csv(path, {"submit": "start", "duration": "dur", "gpus": "n_gpu"})


def test_csv_bad_number_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "jobs.csv", CSV.replace("b,40,1.5", "b,40,fast"))
    with pytest.raises(DataError, match=r"jobs\.csv: line 3: column 'length_min' must be a number, got 'fast'"):
        load_csv(path, {"submit": "start", "duration": "length_min", "gpus": "n_gpu"})


def test_csv_nonpositive_duration_and_bad_time(tmp_path: Path) -> None:
    path = write(tmp_path / "jobs.csv", CSV.replace("c,70,10", "c,70,0"))
    with pytest.raises(DataError, match=r"line 4: column 'length_min' must be > 0, got 0"):
        load_csv(path, {"submit": "start", "duration": "length_min", "gpus": "n_gpu"})
    text = "submit,dur,gpus\n2024-01-01 10:00:00,5,1\nyesterday,5,1\n"
    with pytest.raises(DataError, match=r"line 3: column 'submit' must be a time in format 'iso', got 'yesterday'"):
        load_csv(
            write(tmp_path / "t.csv", text), {"submit": "submit", "duration": "dur", "gpus": "gpus"}, time_format="iso"
        )


def test_csv_mapping_errors() -> None:
    with pytest.raises(InputError, match="'gpus' is required"):
        load_csv("x.csv", {"submit": "a", "duration": "b"})
    with pytest.raises(InputError, match="exactly one of 'duration'"):
        load_csv("x.csv", {"submit": "a", "gpus": "b"})
    with pytest.raises(InputError, match="unknown key"):
        load_csv("x.csv", {"submit": "a", "gpus": "b", "duration": "c", "user": "d"})


def test_csv_duplicate_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "jobs.csv", CSV.replace("c,70", "a,70"))
    with pytest.raises(DataError, match="repeats 'a'"):
        load_csv(path, {"id": "jid", "submit": "start", "duration": "length_min", "gpus": "n_gpu"})


def test_format_detection_and_errors(tmp_path: Path) -> None:
    itp = write(tmp_path / "cluster03.csv", "job_id,submission_time,duration,num_gpu\nu1,10,600,8\nu2,5,700,1\n")
    t = load_trace(itp)
    assert t.job_id.tolist() == ["itp-c03-000001", "itp-c03-000000"]
    philly = write(
        tmp_path / "p.csv",
        "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-01 00:00:10,60.0,2,120.0,a\n2017-10-01 00:00:00,30.0,1,30.0,b\n",
    )
    t = load_trace(philly)
    assert t.job_id.tolist() == ["philly-000001", "philly-000000"]
    assert t.submit_s.tolist() == [0.0, 10.0]
    other = write(tmp_path / "o.csv", "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"not a known trace format .columns found: a, b"):
        load_trace(other)
    with pytest.raises(NotFound, match="not a built-in trace"):
        load_trace(tmp_path / "nope.csv")
    with pytest.raises(NotFound, match="built-in: itp"):
        from hexagrid.workloads import builtin_trace_path

        builtin_trace_path("alibaba")


def test_itp_and_philly_bad_values(tmp_path: Path) -> None:
    itp = write(tmp_path / "cluster01.csv", "job_id,submission_time,duration,num_gpu\nu1,10,600,8\nu2,5,-3,1\n")
    with pytest.raises(DataError, match=r"cluster01\.csv: line 3: column 'duration' must be > 0, got -3"):
        load_trace(itp)
    philly = write(tmp_path / "p.csv", "timestamp,duration,num_gpus,cluster\nnot-a-time,60.0,2,a\n")
    with pytest.raises(DataError, match=r"line 2: column 'timestamp' must be a time"):
        load_trace(philly)
    missing = write(tmp_path / "q.csv", "timestamp,duration,cluster\n2017-10-01 00:00:10,60.0,a\n")
    with pytest.raises(DataError, match=r"missing column.s. num_gpus; columns found: timestamp, duration, cluster"):
        from hexagrid.workloads import load_philly

        load_philly(missing)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(DataError, match=r"no cluster.*csv files"):
        load_trace(empty_dir)


def test_empty_table_has_zero_counts(tmp_path: Path) -> None:
    t = load_swf(write(tmp_path / "e.swf", "; nothing\n"))
    assert len(t) == 0
    assert t.gpu_hours() == 0.0
    assert t.gpu_histogram() == {}
    assert np.asarray(t.submit_s).size == 0


def test_swf_unix_start_time_sets_the_calendar(tmp_path: Path) -> None:
    t = load_swf(write(tmp_path / "s.swf", "; UnixStartTime: 1000000000\n" + SWF))
    assert t.origin_s == 1_000_000_000.0
    assert load_swf(write(tmp_path / "n.swf", SWF)).origin_s is None


def test_options_that_do_not_apply_are_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"processors_per_gpu do not apply to the built-in trace itp"):
        load_trace("itp", processors_per_gpu=4)
    with pytest.raises(InputError, match=r"time_format do not apply to an SWF file"):
        load_trace(write(tmp_path / "s.swf", SWF), time_format="iso")


def test_csv_kind_column(tmp_path: Path) -> None:
    text = "s,d,g,k\n0,10,1,training\n5,10,2,inference\n"
    t = load_csv(write(tmp_path / "k.csv", text), {"submit": "s", "duration": "d", "gpus": "g", "kind": "k"})
    assert t.summary()["kind"] == {"training": 1, "inference": 1}
    bad = write(tmp_path / "b.csv", text.replace("inference", "gaming"))
    with pytest.raises(DataError, match=r"line 3: column 'k' \(kind\) must be one of training, fine_tuning"):
        load_csv(bad, {"submit": "s", "duration": "d", "gpus": "g", "kind": "k"})


def test_swf_repeated_job_number(tmp_path: Path) -> None:
    bad = SWF + "    3  500 0 60 1 -1 -1 1 60 -1 1 1 1 -1 1 -1 -1 -1\n"
    with pytest.raises(DataError, match=r"line 11: field 1 \(job_number\) 3 repeats line 7"):
        load_swf(write(tmp_path / "d.swf", bad))


def test_swf_every_record_short(tmp_path: Path) -> None:
    short = "; header\n" + "\n".join(" ".join(["1"] * 17) for _ in range(3)) + "\n"
    with pytest.raises(DataError, match=r"line 2: an SWF record has 18 fields, found 17"):
        load_swf(write(tmp_path / "short.swf", short))


@pytest.mark.parametrize(
    ("times", "time_format"),
    [
        (["2024-01-01T10:00:00", "2024-01-01T09:30:00.5"], "iso"),  # naive: UTC, fraction kept
        (["2024-01-01T10:00:00+02:00", "2024-01-01T09:30:00Z"], "iso"),  # all with offsets
        (["2024-01-01T10:00:00+02:00", "2024-01-01T09:30:00"], "iso"),  # mixed: the row-by-row path
        (["01/02/2024 10:00", "01/02/2024 09:30"], "%d/%m/%Y %H:%M"),
        (["2024-01-01 10:00 +0200", "2024-01-01 09:30 +0000"], "%Y-%m-%d %H:%M %z"),
    ],
)
def test_csv_time_parsing_matches_python(tmp_path: Path, times: list[str], time_format: str) -> None:
    from datetime import UTC, datetime

    def python(t: str) -> float:
        dt = datetime.fromisoformat(t) if time_format == "iso" else datetime.strptime(t, time_format)
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()

    text = "submit,dur,gpus\n" + "".join(f"{t},60,1\n" for t in times)
    t = load_csv(
        write(tmp_path / "t.csv", text),
        {"submit": "submit", "duration": "dur", "gpus": "gpus"},
        time_format=time_format,
    )
    expected = sorted(python(x) for x in times)
    assert t.origin_s == expected[0]
    assert np.allclose(t.submit_s + t.origin_s, expected)
