"""The pure parts: span arithmetic, token masking, file layout, size parsing."""

from __future__ import annotations

import argparse

import pytest

from arcforge_downloader.auth import make_redactor, mask_token
from arcforge_downloader.cli import _size, build_parser
from arcforge_downloader.layout import destination, select_files
from arcforge_downloader.progress import human_size
from arcforge_downloader.transfer import _retry_after, missing_spans


def test_missing_spans_cuts_gaps_at_range_boundaries():
    assert missing_spans(10, [], 4) == [(0, 4), (4, 8), (8, 10)]
    assert missing_spans(10, [(0, 3), (5, 6)], 4) == [(3, 4), (4, 5), (6, 8), (8, 10)]
    assert missing_spans(10, [(0, 10)], 4) == []
    assert missing_spans(10, [(2, 6), (4, 10)], 4) == [(0, 2)]
    assert missing_spans(0, [], 4) == []


def test_mask_shows_at_most_the_last_three_characters():
    assert mask_token("hf_abcdefghijklmnopXYZ") == "hf_…XYZ"
    assert mask_token(None) == "(none)"
    assert mask_token("hf_abc") == "hf_…"


def test_redactor_hides_the_token_bearer_headers_and_token_shapes():
    redact = make_redactor("hf_SecretSecretSecret123")
    text = redact(
        "token hf_SecretSecretSecret123, Authorization: Bearer abc.def, other hf_OtherOtherOther999"
    )
    assert "SecretSecret" not in text and "OtherOther" not in text and "abc.def" not in text
    assert "hf_…123" in text and "hf_…999" in text


def test_layout_puts_tokenizer_files_apart():
    assert destination("tokenizer.json") == "tokenizer/tokenizer.json"
    assert destination("tokenizer.model") == "tokenizer/tokenizer.model"
    assert destination("special_tokens_map.json") == "tokenizer/special_tokens_map.json"
    assert destination("chat_template.jinja") == "tokenizer/chat_template.jinja"
    assert destination("config.json") == "model/config.json"
    assert destination("model-00001-of-00004.safetensors") == "model/model-00001-of-00004.safetensors"
    assert destination("model.safetensors.index.json") == "model/model.safetensors.index.json"


def test_default_selection_skips_gguf_pickles_and_originals():
    repo = [
        "config.json",
        "model-00001-of-00002.safetensors",
        "codegemma-7b-it.gguf",
        "pytorch_model.bin",
        "original/params.json",
        "README.md",
        ".gitattributes",
        "tokenizer.model",
    ]
    assert select_files(repo, (), ()) == [
        "config.json",
        "model-00001-of-00002.safetensors",
        "tokenizer.model",
    ]
    assert select_files(repo, ("*.gguf",), ()) == ["codegemma-7b-it.gguf"]
    assert select_files(repo, (), ("tokenizer.*",)) == ["config.json", "model-00001-of-00002.safetensors"]


def test_size_flag_and_retry_after_parsing():
    assert _size("64M") == 64 << 20
    assert _size("1G") == 1 << 30
    assert _size("1048576") == 1 << 20
    with pytest.raises(argparse.ArgumentTypeError):
        _size("lots")
    assert _retry_after("3") == 3.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert _retry_after("junk") is None
    assert human_size(4_995_496_656) == "5.00 GB"


def test_every_flag_has_help():
    for action in build_parser()._actions:
        assert action.help, action.dest


def test_a_journal_of_another_file_is_discarded(tmp_path):
    from arcforge_downloader.transfer import FileJob, Journal

    job = FileJob("model/x.safetensors", "http://hub/x", 1000, tmp_path / "x.part", "x:aaa:1000")
    journal = Journal(job)
    journal.open()
    journal.record(0, 400)
    journal.record(600, 700)
    journal.close()
    assert Journal(job).load() == 500
    with job.journal_path.open("ab") as handle:
        handle.write(b"700 8")  # a torn last line is ignored
    assert Journal(job).load() == 500

    changed = FileJob(job.name, job.url, 1000, job.part_path, "x:bbb:1000")  # new content upstream
    assert Journal(changed).load(discard_foreign=False) == 0
    assert job.part_path.exists()  # planning (and --dry-run) leaves it alone
    assert Journal(changed).load() == 0
    assert not job.part_path.exists() and not job.journal_path.exists()


def test_rate_limit_wait_reads_the_hubs_headers_like_huggingface_hub():
    from http.client import HTTPMessage

    from arcforge_downloader.transfer import rate_limit_wait

    class Answer:
        def __init__(self, **headers: str) -> None:
            self.msg = HTTPMessage()
            for key, value in headers.items():
                self.msg[key.replace("_", "-")] = value

        def getheader(self, name: str, default: str | None = None) -> str | None:
            return self.msg.get(name, default)

    limited = rate_limit_wait(Answer(RateLimit='"resolvers";r=0;t=42'), 0.5)  # type: ignore[arg-type]
    assert (limited.delay, limited.resource) == (43.0, "resolvers")
    # Requests left (r > 0): the reset is not the wait; Retry-After is, plus 1 s.
    limited = rate_limit_wait(Answer(RateLimit='"api";r=5;t=42', Retry_After="3"), 0.5)  # type: ignore[arg-type]
    assert (limited.delay, limited.resource) == (4.0, "api")
    assert rate_limit_wait(Answer(), 0.5).delay == 1.0  # type: ignore[arg-type]


def test_proxy_urls_and_no_proxy_matching(monkeypatch):
    from arcforge_downloader.network import ProxyConfigError, bypassed, parse_proxy, proxy_for

    proxy = parse_proxy("http://user:p%40ss@proxy.example:3128")
    assert proxy.netloc == "proxy.example:3128" and proxy.url == "http://proxy.example:3128"
    assert proxy.headers == {"Proxy-Authorization": "Basic dXNlcjpwQHNz"}  # user:p@ss
    assert parse_proxy("proxy.example").netloc == "proxy.example:8080"
    with pytest.raises(ProxyConfigError, match="plain http://"):
        parse_proxy("https://proxy.example:443")
    assert bypassed("cdn.example.com", 443, "localhost, .example.com")
    assert not bypassed("example.org", 443, "example.com")
    assert bypassed("h", 8080, "h:8080") and not bypassed("h", 443, "h:8080")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    found = proxy_for("https://huggingface.co/x")
    assert found is not None and found.netloc == "proxy.example:3128"
    assert proxy_for("https://internal.example/x") is None
    assert proxy_for("http://huggingface.co/x") is None  # only HTTPS_PROXY is set


def test_worker_growth_stops_when_a_connection_stops_helping():
    from arcforge_downloader.transfer import EngineSettings, _Growth

    growth = _Growth(EngineSettings(workers=2, max_workers=8, growth_interval=1.0), 0.0, 0)
    assert not growth.due(0.5) and growth.due(1.0)
    assert growth.step(1.0, 10_000_000, useful=True)  # 10 MB/s: add one
    assert growth.step(2.0, 22_000_000, useful=True)  # 12 MB/s: it helped, add another
    assert not growth.step(3.0, 34_100_000, useful=True)  # 12.1 MB/s: no better, stop for good
    assert not growth.due(10.0)
    assert _Growth(EngineSettings(workers=4, max_workers=4), 0.0, 0).done  # no room to grow
