"""What a render node advertises (``execution.hardware``), the events it sends to the manager
(``execution.events``) and the mutual TLS between them (``execution.tls``)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import shutil
import ssl
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from distributed.security import Security

from render_farm_manager.core.errors import InvalidInputError
from render_farm_manager.core.models import RenderFailure, RenderNode
from render_farm_manager.execution.events import (
    EventKind,
    TaskEvent,
    event_from_message,
    event_message,
)
from render_farm_manager.execution.hardware import (
    machine_advert,
    node_from_advert,
    parse_nvidia_smi,
)
from render_farm_manager.execution.tls import TLSFiles, make_certificates, tls_security

# --- nvidia-smi output -----------------------------------------------------------------------


def test_nvidia_smi_with_several_gpus_gives_first_model_count_and_smallest_memory() -> None:
    output = "NVIDIA RTX A6000, 49140\nNVIDIA GeForce RTX 4090, 24564\nNVIDIA RTX A4000, 16376\n"
    assert parse_nvidia_smi(output) == ("NVIDIA RTX A6000", 3, 16.0)


def test_nvidia_smi_memory_is_in_gb_rounded_to_a_tenth() -> None:
    model, count, memory = parse_nvidia_smi("NVIDIA GeForce RTX 2080 Ti, 11019\n")
    assert (model, count) == ("NVIDIA GeForce RTX 2080 Ti", 1)
    assert memory == 10.8  # 11019 MiB = 10.76 GB


def test_nvidia_smi_model_names_may_contain_commas_and_spaces() -> None:
    assert parse_nvidia_smi("  Tesla, T4 ,  15360  \n") == ("Tesla, T4", 1, 15.0)


@pytest.mark.parametrize(
    "output",
    [
        "",
        "\n\n",
        "No devices were found\n",
        "NVIDIA-SMI has failed because it couldn't communicate",
    ],
)
def test_nvidia_smi_without_gpu_lines_means_no_gpu(output: str) -> None:
    assert parse_nvidia_smi(output) == (None, 0, 0.0)


def test_nvidia_smi_garbage_lines_are_skipped() -> None:
    output = (
        "WARNING: infoROM is corrupted at gpu 0000:01:00.0\n"
        "NVIDIA A100-SXM4-40GB, 40960\n"
        "NVIDIA A100-SXM4-40GB, [N/A]\n"
        "\n"
        "NVIDIA A100-SXM4-80GB, 81920\n"
    )
    assert parse_nvidia_smi(output) == ("NVIDIA A100-SXM4-40GB", 2, 40.0)


# --- this machine's advert -------------------------------------------------------------------


def test_advert_takes_the_operators_overrides_tags_and_attributes() -> None:
    attributes = {"pool": "lighting,fx", "site": "north"}
    advert = machine_advert(
        "node-7",
        tags=["gpu_rendering", "simulation"],
        attributes=attributes,
        rating=80.0,
        cores=3,
        memory_gb=5,
    )
    assert advert["id"] == "node-7"
    assert advert["name"]
    assert advert["power_efficiency_rating"] == 80.0
    capabilities = advert["capabilities"]
    assert capabilities["cpu_cores"] == 3
    assert capabilities["memory_gb"] == 5
    assert capabilities["specialized_for"] == ["gpu_rendering", "simulation"]
    assert capabilities["attributes"]["pool"] == "lighting,fx"
    assert capabilities["attributes"]["site"] == "north"
    assert attributes == {"pool": "lighting,fx", "site": "north"}, "caller's mapping unchanged"


def test_advert_without_overrides_offers_the_whole_machine() -> None:
    capabilities = machine_advert("node-1")["capabilities"]
    assert capabilities["cpu_cores"] == (os.cpu_count() or 1)
    assert isinstance(capabilities["memory_gb"], int) and capabilities["memory_gb"] >= 1
    assert capabilities["specialized_for"] == []
    if shutil.which("nvidia-smi") is None:
        assert capabilities["gpu_model"] is None
        assert capabilities["gpu_count"] == 0
        assert capabilities["gpu_memory_gb"] == 0.0


def test_advert_lists_installed_renderers_in_the_renderer_attribute() -> None:
    attributes = machine_advert("node-1")["capabilities"]["attributes"]
    listed = attributes.get("renderer", "").split(",")
    if shutil.which("povray"):
        assert "povray" in listed
    else:
        assert "povray" not in listed


def test_advert_keeps_the_renderer_the_operator_gives() -> None:
    advert = machine_advert("node-1", attributes={"renderer": "arnold-7"})
    assert advert["capabilities"]["attributes"]["renderer"] == "arnold-7"


def test_this_machines_advert_is_a_valid_node() -> None:
    advert = machine_advert("node-1", tags=["cpu_rendering"], attributes={"pool": "a"}, cores=2)
    node = node_from_advert(advert)
    assert node.id == "node-1"
    assert node.capabilities.cpu_cores == 2
    assert node.capabilities.specialized_for == ["cpu_rendering"]
    assert node.capabilities.attributes["pool"] == "a"


# --- the manager's view of an advert ---------------------------------------------------------

CAPABILITIES = {
    "cpu_cores": 32,
    "memory_gb": 128,
    "gpu_model": "NVIDIA RTX A6000",
    "gpu_count": 2,
    "gpu_memory_gb": 48.0,
    "specialized_for": ["gpu_rendering"],
    "os": "linux",
    "attributes": {"renderer": "povray,blender", "pool": "lighting"},
}


def test_node_from_a_good_advert() -> None:
    node = node_from_advert(
        {
            "id": "gpu-01",
            "name": "gpu-01.farm",
            "capabilities": CAPABILITIES,
            "power_efficiency_rating": 72.5,
        }
    )
    assert isinstance(node, RenderNode)
    assert node.id == "gpu-01"
    assert node.name == "gpu-01.farm"
    assert node.power_efficiency_rating == 72.5
    capabilities = node.capabilities
    assert capabilities.cpu_cores == 32
    assert capabilities.memory_gb == 128
    assert capabilities.gpu_model == "NVIDIA RTX A6000"
    assert capabilities.gpu_count == 2
    assert capabilities.gpu_memory_gb == 48.0
    assert capabilities.specialized_for == ["gpu_rendering"]
    assert capabilities.os == "linux"
    assert capabilities.attributes == {"renderer": "povray,blender", "pool": "lighting"}


def test_node_without_a_name_is_named_by_its_id() -> None:
    node = node_from_advert({"id": "cpu-03", "capabilities": CAPABILITIES})
    assert node.name == "cpu-03"
    assert node.power_efficiency_rating == 50.0


@pytest.mark.parametrize(
    ("advert", "field"),
    [
        ({"id": "n", "capabilities": {**CAPABILITIES, "cpu_cores": 0}}, "cpu_cores"),
        ({"id": "n"}, "capabilities"),
        (
            {"id": "n", "capabilities": CAPABILITIES, "power_efficiency_rating": 150},
            "power_efficiency_rating",
        ),
        ({"id": "", "capabilities": CAPABILITIES}, "id"),
        ({"id": "n", "capabilities": {**CAPABILITIES, "turbo": "yes"}}, "turbo"),
    ],
    ids=["no-cores", "no-capabilities", "rating-150", "empty-id", "unknown-capability"],
)
def test_bad_advert_names_the_bad_field(advert: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        node_from_advert(advert)
    assert caught.value.field == field
    assert "bad node advert" in str(caught.value)


@pytest.mark.parametrize("capabilities", ["fast", ["cpu_cores", 8], 8])
def test_capabilities_that_are_not_a_mapping_are_refused(capabilities: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        node_from_advert({"id": "n", "capabilities": capabilities})
    assert caught.value.field == "capabilities"


def test_advert_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        node_from_advert("gpu-01")  # type: ignore[arg-type]


# --- events on the wire ----------------------------------------------------------------------

TASK_KINDS = [kind for kind in EventKind if kind is not EventKind.NODE_JOINED]


def full_event(kind: EventKind) -> TaskEvent:
    return TaskEvent(
        kind,
        "job-1/frames-1-10",
        "gpu-01",
        3,
        frame=7,
        progress=42.5,
        error="povray exited with 1",
        failure=RenderFailure.OUT_OF_MEMORY,
        log=Path("/farm/work/job-1/render.log"),
        path=Path("/farm/out/preview_0007.png"),
        seconds=12.25,
    )


def same_but_time(decoded: TaskEvent, event: TaskEvent) -> bool:
    return dataclasses.replace(decoded, at=event.at) == event


@pytest.mark.parametrize("kind", TASK_KINDS, ids=str)
def test_every_task_event_kind_round_trips_with_all_fields(kind: EventKind) -> None:
    event = full_event(kind)
    decoded = event_from_message(event_message(event, seq=5))
    assert same_but_time(decoded, event)
    assert decoded.kind is kind
    assert isinstance(decoded.failure, RenderFailure)
    assert isinstance(decoded.log, Path) and isinstance(decoded.path, Path)


@pytest.mark.parametrize("kind", TASK_KINDS, ids=str)
def test_event_without_optional_fields_round_trips(kind: EventKind) -> None:
    event = TaskEvent(kind, "job-2/all", "cpu-01", 1)
    decoded = event_from_message(event_message(event, seq=1))
    assert same_but_time(decoded, event)
    for name in ("frame", "progress", "error", "failure", "log", "path", "seconds"):
        assert getattr(decoded, name) is None


@pytest.mark.parametrize("failure", list(RenderFailure), ids=str)
def test_every_failure_kind_round_trips(failure: RenderFailure) -> None:
    event = TaskEvent(EventKind.FAILED, "job-3/all", "cpu-02", 2, failure=failure, error="x")
    assert event_from_message(event_message(event, seq=9)).failure is failure


@pytest.mark.parametrize("kind", TASK_KINDS, ids=str)
def test_message_holds_only_plain_values(kind: EventKind) -> None:
    message = event_message(full_event(kind), seq=4)
    assert message["seq"] == 4
    assert message["kind"] == kind.value
    for key, value in message.items():
        assert isinstance(key, str)
        assert type(value) in (str, int, float, type(None)), (key, value)


def test_message_survives_msgpack() -> None:
    msgpack = pytest.importorskip("msgpack")
    event = full_event(EventKind.FRAME_DONE)
    message = msgpack.unpackb(msgpack.packb(event_message(event, seq=2)))
    assert same_but_time(event_from_message(message), event)


def test_whole_numbers_for_progress_and_seconds_are_read_as_floats() -> None:
    message = event_message(TaskEvent(EventKind.FINISHED, "j/all", "n", 1), seq=3)
    message.update(progress=100, seconds=30)
    decoded = event_from_message(message)
    assert decoded.progress == 100.0 and isinstance(decoded.progress, float)
    assert decoded.seconds == 30.0 and isinstance(decoded.seconds, float)


def test_read_event_is_stamped_with_the_time_it_is_read() -> None:
    event = dataclasses.replace(full_event(EventKind.STARTED), at=-1000.0)
    before = time.monotonic()
    decoded = event_from_message(event_message(event, seq=1))
    assert before <= decoded.at <= time.monotonic()


def test_message_of_an_unknown_kind_is_refused() -> None:
    message = event_message(full_event(EventKind.PROGRESS), seq=1)
    message["kind"] = "teleported"
    with pytest.raises(ValueError):
        event_from_message(message)


# --- TLS files -------------------------------------------------------------------------------


def three_files(directory: Path) -> tuple[Path, Path, Path]:
    paths = (directory / "ca.pem", directory / "node.pem", directory / "node.key")
    for path in paths:
        path.write_text("x")
    return paths


def test_no_tls_files_given_means_no_tls() -> None:
    assert TLSFiles.given(None, None, None) is None


def test_all_three_tls_files_given(tmp_path: Path) -> None:
    ca, cert, key = three_files(tmp_path)
    assert TLSFiles.given(ca, cert, key) == TLSFiles(ca, cert, key)


@pytest.mark.parametrize("missing", [(0,), (1,), (2,), (0, 1), (1, 2), (0, 2)])
def test_only_some_tls_files_given_is_refused(tmp_path: Path, missing: tuple[int, ...]) -> None:
    given: list[Path | None] = list(three_files(tmp_path))
    for index in missing:
        given[index] = None
    with pytest.raises(ValueError, match="all three"):
        TLSFiles.given(*given)


@pytest.mark.parametrize("absent", [0, 1, 2])
def test_a_tls_file_that_does_not_exist_is_refused(tmp_path: Path, absent: int) -> None:
    given = list(three_files(tmp_path))
    given[absent] = tmp_path / "nowhere.pem"
    with pytest.raises(ValueError, match=r"nowhere\.pem"):
        TLSFiles.given(*given)


def test_a_directory_is_not_a_tls_file(tmp_path: Path) -> None:
    ca, cert, _ = three_files(tmp_path)
    with pytest.raises(ValueError):
        TLSFiles.given(ca, cert, tmp_path)


# --- certificates ----------------------------------------------------------------------------


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    public_key.verify(
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
    )
    return cert.issuer == ca.subject


def alternative_names(cert: x509.Certificate) -> list[x509.GeneralName]:
    return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)


def test_certificates_for_the_manager_and_each_node(tmp_path: Path) -> None:
    directory = tmp_path / "farm" / "tls"
    made = make_certificates(directory, ["n1", "n2"])
    assert set(made) == {"manager", "node-n1", "node-n2"}
    for party, files in made.items():
        assert files == TLSFiles(
            directory / "ca.pem", directory / f"{party}.pem", directory / f"{party}.key"
        )
        assert files.cert.is_file() and files.key.is_file()
    assert (directory / "ca.pem").is_file() and (directory / "ca.key").is_file()
    ca = load(directory / "ca.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for files in made.values():
        cert = load(files.cert)
        assert signed_by(cert, ca)
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
        assert key.public_key() == cert.public_key()


def test_private_keys_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    made = make_certificates(tmp_path, ["n1"])
    keys = [tmp_path / "ca.key", *(files.key for files in made.values())]
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_a_second_call_keeps_the_ca_and_signs_with_it(tmp_path: Path) -> None:
    first = make_certificates(tmp_path, ["n1"])
    ca_pem, ca_key = (tmp_path / "ca.pem").read_bytes(), (tmp_path / "ca.key").read_bytes()
    second = make_certificates(tmp_path, ["n3"])
    assert (tmp_path / "ca.pem").read_bytes() == ca_pem
    assert (tmp_path / "ca.key").read_bytes() == ca_key
    ca = load(tmp_path / "ca.pem")
    assert signed_by(load(second["node-n3"].cert), ca)
    assert signed_by(load(first["node-n1"].cert), ca), "the first node's certificate still holds"


def test_hosts_become_ip_or_dns_names_of_the_manager(tmp_path: Path) -> None:
    made = make_certificates(tmp_path, ["n1"], ["10.0.0.5", "farm.example.com", "::1"])
    assert alternative_names(load(made["manager"].cert)) == [
        x509.IPAddress(ipaddress.ip_address("10.0.0.5")),
        x509.DNSName("farm.example.com"),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    assert alternative_names(load(made["node-n1"].cert)) == [x509.DNSName("n1")]


def test_manager_defaults_to_localhost(tmp_path: Path) -> None:
    made = make_certificates(tmp_path, [])
    assert set(made) == {"manager"}
    assert alternative_names(load(made["manager"].cert)) == [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]


def test_a_ca_key_not_made_by_certs_is_refused(tmp_path: Path) -> None:
    make_certificates(tmp_path, [])
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "ca.key").write_bytes(
        foreign.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match=r"ca\.key"):
        make_certificates(tmp_path, ["n1"])
    assert not (tmp_path / "node-n1.pem").exists()


# --- Dask's security settings ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["worker", "scheduler"])
def test_no_tls_files_means_no_security(role: str) -> None:
    assert tls_security(None, role) is None  # type: ignore[arg-type]


def test_worker_security(tmp_path: Path) -> None:
    files = make_certificates(tmp_path, ["n1"])["node-n1"]
    security = tls_security(files, "worker")
    assert isinstance(security, Security)
    assert security.require_encryption is True
    assert security.tls_ca_file == str(files.ca)
    assert security.tls_worker_cert == str(files.cert)
    assert security.tls_worker_key == str(files.key)
    assert security.tls_client_cert == str(files.cert)
    assert security.tls_client_key == str(files.key)
    assert security.tls_scheduler_cert is None


def test_scheduler_security(tmp_path: Path) -> None:
    files = make_certificates(tmp_path, [])["manager"]
    security = tls_security(files, "scheduler")
    assert isinstance(security, Security)
    assert security.require_encryption is True
    assert security.tls_ca_file == str(files.ca)
    assert security.tls_scheduler_cert == str(files.cert)
    assert security.tls_scheduler_key == str(files.key)
    assert security.tls_client_cert == str(files.cert)
    assert security.tls_client_key == str(files.key)
    assert security.tls_worker_cert is None


def handshake(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> dict:
    """A TLS handshake in memory (no sockets); the certificate the server saw."""
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    client = client_context.wrap_bio(client_in, client_out, server_side=False)
    done = {server: False, client: False}
    for _ in range(20):
        for side, finished in done.items():
            if not finished:
                try:
                    side.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if all(done.values()):
            return server.getpeercert()
    raise AssertionError("the handshake did not finish")


def test_manager_and_node_of_one_farm_complete_a_mutual_tls_handshake(tmp_path: Path) -> None:
    made = make_certificates(tmp_path, ["n1"])
    manager = tls_security(made["manager"], "scheduler")
    node = tls_security(made["node-n1"], "worker")
    assert manager is not None and node is not None
    seen = handshake(
        manager.get_listen_args("scheduler")["ssl_context"],
        node.get_connection_args("worker")["ssl_context"],
    )
    assert seen["subject"] == ((("commonName", "node-n1"),),)
    seen = handshake(
        node.get_listen_args("worker")["ssl_context"],
        manager.get_connection_args("scheduler")["ssl_context"],
    )
    assert seen["subject"] == ((("commonName", "manager"),),)


def test_a_node_of_another_farm_is_refused(tmp_path: Path) -> None:
    ours = make_certificates(tmp_path / "ours", [])
    theirs = make_certificates(tmp_path / "theirs", ["intruder"])
    manager = tls_security(ours["manager"], "scheduler")
    intruder = tls_security(theirs["node-intruder"], "worker")
    assert manager is not None and intruder is not None
    with pytest.raises(ssl.SSLError):
        handshake(
            manager.get_listen_args("scheduler")["ssl_context"],
            intruder.get_connection_args("worker")["ssl_context"],
        )


def test_certificates_pass_strict_x509_checking(tmp_path: Path) -> None:
    made = make_certificates(tmp_path, ["n1"])
    manager = tls_security(made["manager"], "scheduler")
    node = tls_security(made["node-n1"], "worker")
    assert manager is not None and node is not None
    server = manager.get_listen_args("scheduler")["ssl_context"]
    client = node.get_connection_args("worker")["ssl_context"]
    for context in (server, client):
        context.verify_flags |= ssl.VERIFY_X509_STRICT
    handshake(server, client)
