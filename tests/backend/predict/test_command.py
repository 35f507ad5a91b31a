"""``mosaic predict``'s options as argparse renders and parses them."""

from __future__ import annotations

import argparse

import pytest

from mosaic.backend.predict.command import add_arguments, request_from


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mosaic predict")
    add_arguments(parser)
    return parser


def test_help_tells_the_s1_orders_apart():
    """The S1 orders hold commas: the help lists them separated by bars, not as ``{auto,vv,vh,vh,vv}``."""
    text = _parser().format_help()
    assert "[--s1-order auto|vv,vh|vh,vv]" in text and "\n  --s1-order auto|vv,vh|vh,vv\n" in text
    assert "vv,vh,vh,vv" not in text


@pytest.mark.parametrize("order", ["auto", "vv,vh", "vh,vv"])
def test_every_s1_order_parses(order):
    args = _parser().parse_args(["--s2", "a", "--s1", "b", "--model", "m", "--out", "o", "--s1-order", order])
    assert request_from(args).inputs.s1_order == order


def test_an_unknown_s1_order_names_the_choices(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["--model", "m", "--out", "o", "--s1-order", "vh"])
    assert "argument --s1-order: invalid choice: 'vh' (choose from 'auto', 'vv,vh', 'vh,vv')" in capsys.readouterr().err
