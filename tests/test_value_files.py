"""Point values from files (issue 18 item 3): `--x @values.npy` (.npy, .txt, .csv, .pt) and `at: {x: {file: ...}}`."""

from __future__ import annotations

import pickle
import sys
import textwrap
import uuid

import numpy as np
import pytest
import torch

from gradcheck_cli.core.errors import LimitError, ValueParseError
from gradcheck_cli.core.limits import Limits
from gradcheck_cli.spec.value_files import load_values

VALUES = np.array([[0.5, -1.25, 2.0], [3.0, 0.0, -0.75]])


def _write(folder, suffix: str, values=VALUES):
    path = folder / f"values{suffix}"
    if suffix == ".npy":
        np.save(path, values)
    elif suffix == ".pt":
        torch.save(torch.as_tensor(values), path)
    else:
        np.savetxt(path, values, delimiter="," if suffix == ".csv" else " ")
    return path


@pytest.mark.parametrize("suffix", [".npy", ".txt", ".csv", ".pt"])
def test_each_format_gives_the_values_it_holds(cli_json, tmp_path, suffix):
    path = _write(tmp_path, suffix)
    code, document = cli_json("sum(x**2)", "--x", f"@{path}")
    result = document["results"][0]
    assert code == 0 and result["point"]["x"] == VALUES.tolist() and result["seed"] is None
    assert result["value"] == pytest.approx(float(np.sum(VALUES**2)), rel=1e-15)


def test_a_relative_path_is_taken_from_the_current_folder(cli_json, tmp_path, monkeypatch):
    _write(tmp_path, ".npy")
    monkeypatch.chdir(tmp_path)
    code, document = cli_json("sum(x)", "--x", "@values.npy")
    assert code == 0 and document["results"][0]["point"]["x"] == VALUES.tolist()


def test_integer_data_is_index_data_for_a_function(cli_json, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = f"file_ops_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        import torch

        def pick(x, idx):
            assert idx.dtype == torch.int64
            return torch.sin(x[idx])
    """))
    np.save(tmp_path / "idx.npy", np.array([2, 0, 2], dtype=np.int32))
    try:
        code, document = cli_json("--function", f"{name}:pick", "--x", "1,2,3", "--idx", "@idx.npy")
    finally:
        sys.modules.pop(name, None)
    result = document["results"][0]
    assert code == 0, result
    assert result["wrt"] == ["x"] and result["point"]["idx"] == [2.0, 0.0, 2.0]


@pytest.mark.parametrize("make, message", [
    (lambda folder: folder / "missing.npy", "missing.npy: no such file"),
    (lambda folder: folder, "not a file"),
    (lambda folder: _text(folder / "v.bin", "1 2"), "cannot read values from a .bin file (give .npy, .txt, .csv, .pt)"),
    (lambda folder: _text(folder / "v.npy", "not numpy"), "not a readable .npy file"),
    (lambda folder: _text(folder / "v.csv", "1,2\n3"), "not a readable .csv file"),
    (lambda folder: _text(folder / "v.txt", "1 nan"), "values must be finite numbers"),
    (lambda folder: _text(folder / "v.txt", ""), "the value is empty"),
    (lambda folder: _npy(folder / "v.npy", np.array(["a", "b"])), "holds <U1 data, not numbers"),
    (lambda folder: _npy(folder / "v.npy", np.array([1 + 2j])), "complex values are not supported"),
    (lambda folder: _pt(folder / "v.pt", {"x": torch.ones(2)}), "holds a dict, not a tensor"),
])
def test_a_missing_or_malformed_file_is_one_line_naming_the_flag(cli, tmp_path, make, message):
    path = make(tmp_path)
    result = cli("sum(x)", "--x", f"@{path}")
    assert result.exit_code == 2
    text = " ".join(result.stderr.split())
    assert "Invalid value for '--x'" in text and message in text, text
    assert "Traceback" not in result.stderr


def test_a_npy_past_the_element_limit_is_refused_from_its_header(tmp_path):
    path = tmp_path / "big.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(1000, 1000))
    with pytest.raises(LimitError, match="the value has 1,000,000 elements; the limit is 1,000"):
        load_values(path, Limits(max_elements=1000))


def test_over_max_elements_on_the_command_line(cli, tmp_path):
    path = _write(tmp_path, ".npy")
    result = cli("sum(x)", "--x", f"@{path}", "--max-elements", "4")
    assert result.exit_code == 2 and "the value has 6 elements; the limit is 4" in result.stderr


class _Payload:
    """Would run code if unpickled: torch.load(weights_only=True) must refuse it."""

    def __reduce__(self):
        return (exec, ("open('RAN', 'w').write('ran')",))


def test_a_torch_file_is_never_unpickled_beyond_tensors(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "evil.pt", "wb") as handle:
        pickle.dump(_Payload(), handle)
    result = cli("sum(x)", "--x", "@evil.pt")
    assert result.exit_code == 2 and "not a readable .pt file" in result.stderr
    assert not (tmp_path / "RAN").exists()


def test_an_npy_holding_objects_is_refused(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueParseError, match="not a readable .npy file"):
        load_values(path)


def test_a_spec_file_reads_files_relative_to_itself(cli_json, tmp_path, monkeypatch):
    folder = tmp_path / "specs"
    folder.mkdir()
    _write(folder, ".csv")
    (folder / "case.yaml").write_text("expr: sum(x*y)\nat:\n  x: {file: values.csv}\n  y: 2\n")
    monkeypatch.chdir(tmp_path)
    code, document = cli_json("specs/case.yaml")
    assert code == 0 and document["results"][0]["point"]["x"] == VALUES.tolist()


@pytest.mark.parametrize("at, message", [
    ("{file: nothing.npy}", "5:13: at.x.file: {folder}/nothing.npy: no such file"),
    ("{path: values.npy}", "5:7: at.x.path: unknown key (allowed: file)"),
    ("{}", "5:6: at.x: expected {{file: PATH}}"),
])
def test_a_spec_file_value_file_error_points_at_its_key(cli, tmp_path, at, message):
    spec = tmp_path / "case.yaml"
    spec.write_text(f"# a case\nexpr: sum(x)\n\nat:\n  x: {at}\n")
    result = cli(str(spec))
    assert result.exit_code == 2
    assert f"{spec}:" + message.format(folder=tmp_path) in result.stderr, result.stderr


def _text(path, text: str):
    path.write_text(text)
    return path


def _npy(path, array):
    np.save(path, array)
    return path


def _pt(path, value):
    torch.save(value, path)
    return path
