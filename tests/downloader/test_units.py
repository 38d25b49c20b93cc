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
