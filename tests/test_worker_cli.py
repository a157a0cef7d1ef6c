"""``render-farm certs``, and the checks of ``render-farm worker`` and ``serve --workers`` that
refuse bad options before anything connects or serves (no network here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from cryptography import x509
from typer.testing import CliRunner

from render_farm_manager.cli import app

runner = CliRunner()
UNREACHABLE = "127.0.0.1:9"
"""The discard port: a worker that got as far as connecting would hang here."""


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args), env={"COLUMNS": "1000"})


def one_line(output: str) -> str:
    """The output with its (boxed) lines joined, so a message reads as one string."""
    return " ".join(output.replace("│", " ").split())


def tls_files(directory: Path) -> list[str]:
    paths = [directory / "ca.pem", directory / "manager.pem", directory / "manager.key"]
    for path in paths:
        path.write_text("not read before the check")
    return [
        "--tls-ca",
        str(paths[0]),
        "--tls-cert",
        str(paths[1]),
        "--tls-key",
        str(paths[2]),
    ]


# --- certs -----------------------------------------------------------------------------------


def test_certs_makes_the_ca_and_certificates_and_says_how_to_use_them(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    result = invoke("certs", str(directory), "--node", "n1", "--node", "n2", "--host", "10.0.0.5")
    assert result.exit_code == 0, result.output
    ca = directory / "ca.pem"
    assert ca.is_file() and (directory / "ca.key").is_file()
    for party in ("manager", "node-n1", "node-n2"):
        cert, key = directory / f"{party}.pem", directory / f"{party}.key"
        assert cert.is_file() and key.is_file()
        line = f"{party}: --tls-ca {ca} --tls-cert {cert} --tls-key {key}"
        assert line in result.output.splitlines(), result.output
    manager = x509.load_pem_x509_certificate((directory / "manager.pem").read_bytes())
    names = manager.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(address) for address in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]


def test_certs_run_again_keeps_the_ca(tmp_path: Path) -> None:
    assert invoke("certs", str(tmp_path), "--node", "n1").exit_code == 0
    ca = (tmp_path / "ca.pem").read_bytes()
    again = invoke("certs", str(tmp_path), "--node", "n2")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "ca.pem").read_bytes() == ca
    assert (tmp_path / "node-n2.pem").is_file()


def test_certs_into_a_file_fails_cleanly(tmp_path: Path) -> None:
    occupied = tmp_path / "occupied"
    occupied.write_text("a file, not a directory")
    result = invoke("certs", str(occupied), "--node", "n1")
    assert result.exit_code == 2
    assert "error" in result.output


# --- worker ----------------------------------------------------------------------------------


def worker(tmp_path: Path, *args: str) -> Result:
    return invoke("worker", "--node-id", "n1", "--workdir", str(tmp_path / "work"), *args)


def assert_not_started(result: Result, tmp_path: Path) -> None:
    assert "render node n1:" not in result.output
    assert "joined" not in result.output
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("item", ["novalue", "=value"])
def test_worker_refuses_an_attribute_that_is_not_key_value(tmp_path: Path, item: str) -> None:
    result = worker(tmp_path, "--manager", f"tcp://{UNREACHABLE}", "--attribute", item)
    assert result.exit_code == 2, result.output
    assert "--attribute" in result.output
    assert "KEY=VALUE" in result.output
    assert_not_started(result, tmp_path)


@pytest.mark.parametrize(
    "given",
    [("--tls-ca",), ("--tls-cert",), ("--tls-ca", "--tls-key")],
    ids=["ca", "cert", "ca-and-key"],
)
def test_worker_refuses_part_of_the_tls_files(tmp_path: Path, given: tuple[str, ...]) -> None:
    options: list[str] = []
    for option in given:
        path = tmp_path / f"{option.strip('-')}.pem"
        path.write_text("x")
        options += [option, str(path)]
    result = worker(tmp_path, "--manager", f"tls://{UNREACHABLE}", *options)
    assert result.exit_code == 2, result.output
    assert "all three" in one_line(result.output)
    assert_not_started(result, tmp_path)


def test_worker_refuses_tls_files_that_do_not_exist(tmp_path: Path) -> None:
    result = worker(
        tmp_path,
        "--manager",
        f"tls://{UNREACHABLE}",
        "--tls-ca",
        str(tmp_path / "ca.pem"),
        "--tls-cert",
        str(tmp_path / "n1.pem"),
        "--tls-key",
        str(tmp_path / "n1.key"),
    )
    assert result.exit_code == 2, result.output
    assert "no such file" in one_line(result.output)
    assert_not_started(result, tmp_path)


def test_worker_refuses_a_tls_manager_without_tls_files(tmp_path: Path) -> None:
    result = worker(tmp_path, "--manager", f"tls://{UNREACHABLE}")
    assert result.exit_code == 2, result.output
    assert "tls://" in result.output and "--tls-ca" in result.output
    assert_not_started(result, tmp_path)


def test_worker_refuses_a_rating_out_of_range(tmp_path: Path) -> None:
    result = worker(tmp_path, "--manager", f"tcp://{UNREACHABLE}", "--rating", "150")
    assert result.exit_code == 2, result.output
    assert "--rating" in result.output
    assert_not_started(result, tmp_path)


# --- serve --workers -------------------------------------------------------------------------


def serve(tmp_path: Path, *args: str) -> Result:
    return invoke("serve", "--db", "memory", "--tokens", str(tmp_path / "t.json"), *args)


def assert_not_serving(result: Result) -> None:
    assert "serving on" not in result.output
    assert "render nodes join at" not in result.output


@pytest.mark.parametrize("address", ["http://x", "127.0.0.1:8786", "udp://127.0.0.1:0"])
def test_serve_refuses_a_worker_address_that_is_not_tcp_or_tls(
    tmp_path: Path, address: str
) -> None:
    result = serve(tmp_path, "--workers", address)
    assert result.exit_code == 2, result.output
    assert "--workers" in result.output
    assert "tcp://" in result.output
    assert_not_serving(result)


def test_serve_refuses_tls_workers_without_tls_files(tmp_path: Path) -> None:
    result = serve(tmp_path, "--workers", "tls://127.0.0.1:0")
    assert result.exit_code == 2, result.output
    assert "--tls-ca" in result.output
    assert_not_serving(result)


def test_serve_refuses_tls_files_for_tcp_workers(tmp_path: Path) -> None:
    result = serve(tmp_path, "--workers", "tcp://127.0.0.1:0", *tls_files(tmp_path))
    assert result.exit_code == 2, result.output
    assert "--workers" in result.output and "tls://" in result.output
    assert_not_serving(result)


def test_serve_refuses_part_of_the_tls_files(tmp_path: Path) -> None:
    options = tls_files(tmp_path)[:2]
    result = serve(tmp_path, "--workers", "tls://127.0.0.1:0", *options)
    assert result.exit_code == 2, result.output
    assert "all three" in one_line(result.output)
    assert_not_serving(result)
