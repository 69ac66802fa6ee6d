"""Wallet recognition and pool-login splitting (detector.wallets).

Addresses are real: from the shared corpus captures, from published test vectors (EIP-55,
BIP-350, Ergo docs, Monero docs) and from public miner configs (noted per case). A few
formats with no public sample at hand (Litecoin segwit, Ravencoin, Zcash t3) are checked
against addresses this file encodes itself, marked as such.
"""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from detector.wallets import LoginParts, WalletMatch, classify_wallet, keccak_256, split_login

# ------------------------------------------------------------------------------------ Keccak


@pytest.mark.parametrize(("data", "digest"), [
    # published Keccak-256 vectors (as used by Ethereum; not NIST SHA3-256)
    (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
    (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
    (b"The quick brown fox jumps over the lazy dog",
     "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"),
])
def test_keccak_256_published_vectors(data: bytes, digest: str) -> None:
    assert keccak_256(data).hex() == digest


@pytest.mark.parametrize("length", [0, 1, 55, 135, 136, 137, 271, 272, 273, 1000])
def test_keccak_permutation_matches_sha3_with_sha3_padding(length: int) -> None:
    # Same sponge and permutation as SHA3-256; only the padding byte differs (0x06 vs 0x01).
    data = os.urandom(length)
    assert keccak_256(data, _pad=0x06) == hashlib.sha3_256(data).digest()


# ------------------------------------------------------------------------------------ Ethereum

EIP55_VECTORS = [  # EIP-55 specification examples
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    # shared corpus ndpi/old/ethereum.pcap, eth_submitLogin (Claymore, 2017)
    "0xc1c427cD8E6B7Ee3b5F30c2e1D3f3c5536EC16f5",
]


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_eip55_checksummed_addresses(address: str) -> None:
    assert classify_wallet(address) == WalletMatch("ETH", address, "account", True, ("ETC", "ETHW"))


@pytest.mark.parametrize("address", EIP55_VECTORS)
def test_eip55_one_flipped_letter_is_rejected(address: str) -> None:
    i = next(i for i, c in enumerate(address) if i > 1 and c.isalpha())
    flipped = address[:i] + address[i].swapcase() + address[i + 1:]
    assert classify_wallet(flipped) is None


@pytest.mark.parametrize("address", [
    "0x9c99d212f7e5daa18ab50810e0fd255d1f04303b",  # corpus ndpi/mining.pcapng (nanopool login)
    "0x0fccfff9e61a230ff380530c6827caf4759337c6",  # corpus ndpi/old/ethereum.pcap
    "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",  # all upper case: valid, not checksummed
])
def test_single_case_ethereum_addresses_are_unchecksummed(address: str) -> None:
    match = classify_wallet(address)
    assert match is not None and match.coin == "ETH" and match.checksummed is False


@pytest.mark.parametrize("text", [
    "0x9c99d212f7e5daa18ab50810e0fd255d1f04303",    # 39 hex digits
    "0x9c99d212f7e5daa18ab50810e0fd255d1f04303bb",  # 41
    "0X9c99d212f7e5daa18ab50810e0fd255d1f04303b",   # upper-case X
    "0x9c99d212f7e5daa18ab50810e0fd255d1f04303g",   # not hex
])
def test_malformed_ethereum_addresses(text: str) -> None:
    assert classify_wallet(text) is None


# ------------------------------------------------------------------------------------ Monero

@pytest.mark.parametrize(("address", "kind"), [
    # shared corpus ndpi/mining.pcapng, xmr-stak login
    ("4BCeEPhodgPMbPWFN1dPwhWXdRX8q4mhhdZdA1dtSMLTLCEYvAj9QXjXAfF7CugEbmfBhgkqHbdgK9b2wKA6nqRZQCgvCDm", "standard"),
    # shared corpus zeek-cryptomining/Traces/coinhive-stratum.pcap, logins to supportxmr
    ("46WNbmwXpYxiBpkbHjAgjC65cyzAxtaaBQjcGpAZquhBKw2r8NtPQniEgMJcwFMCZzSBrEJtmPsTR54MoGBDbjTi2W1XmgM", "standard"),
    ("46BeWrHpwXmHDpDEUmZBWZfoQpdc6HaERCNmx1pEYL2rAcuwufPN9rXHHtyUA4QVy66qeFQkn6sfK8aHYjA3jk3o1Bv16em", "standard"),
    # xmrig scripts/pool_mine_example.cmd (as in Salimjamal33/xmrig-1)
    ("45G9YKSCyqyEwcZg6uoKq13sCKV75W67YL7Td3QAeGR39tDzd5pZG9hYrByjNya9hnC2QFBLvZwvq41KULdh24rPLsdF7V7", "standard"),
    # Monero general fund (subaddress) and the Monero documentation's integrated-address example
    ("888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H", "subaddress"),
    ("4LL9oSLmtpccfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2bYXZKKQePHES9khPK",
     "integrated"),
    # jortok/wiki site/docs/crypto/monero.md (supportxmr TLS config)
    ("86NEXGLKf4Q9PQ9XYZskZyNMbZs1J3WrGPPA9zLerAXCQQJ9y1v6KJoTh1KxMKEpht5Gc4BKLN7Lg2xV83A2DPjuUhfXSos", "subaddress"),
])
def test_monero_addresses(address: str, kind: str) -> None:
    assert classify_wallet(address) == WalletMatch("XMR", address, kind)


def test_monero_checksum_and_base58_errors() -> None:
    good = "46WNbmwXpYxiBpkbHjAgjC65cyzAxtaaBQjcGpAZquhBKw2r8NtPQniEgMJcwFMCZzSBrEJtmPsTR54MoGBDbjTi2W1XmgM"
    assert classify_wallet(good[:-1] + ("N" if good[-1] != "N" else "P")) is None  # checksum
    assert classify_wallet(good[:40] + "0" + good[41:]) is None  # '0' is not Base58
    assert classify_wallet(good[:-1]) is None  # 94 characters
    # a testnet-style prefix: re-encode is not possible here, so flip the first block instead
    assert classify_wallet("9" + good[1:]) is None


# ------------------------------------------------------------------------------------ Base58Check

@pytest.mark.parametrize(("address", "coin", "kind"), [
    ("t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd", "ZEC", "p2pkh"),  # corpus ndpi/mining.pcapng (flypool)
    ("t1fJuHWrfcWnYMYyP9VAF96vRnvND2NziMG", "ZEC", "p2pkh"),  # corpus ndpi/mining.pcapng
    ("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "BTC", "p2pkh"),   # Bitcoin genesis coinbase
    ("3P8DtYzCrvhuj448RHdAMSmdLnsKCDBsK8", "BTC", "p2sh"),    # lungguhprasojo/LP7a nch.sh (NiceHash)
    ("DFWN1v42yR28X8tSoYSgroARTtXJQBKYrq", "DOGE", "p2pkh"),  # DionysusBenstein/deploy-xmrig (unMineable)
    ("LQZpb8AqbggUmsdPKr28DzdNcRP7MJ8kEf", "LTC", "p2pkh"),   # jstefanop/bitmain-tools README donation
])
def test_base58check_addresses(address: str, coin: str, kind: str) -> None:
    match = classify_wallet(address)
    assert match is not None and (match.coin, match.kind) == (coin, kind)


def _b58check_encode(version: bytes, payload: bytes) -> str:
    raw = version + payload
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n, out = int.from_bytes(raw, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


@pytest.mark.parametrize(("version", "coin", "kind", "first"), [
    (b"\x3c", "RVN", "p2pkh", "R"), (b"\x7a", "RVN", "p2sh", "r"),
    (b"\x32", "LTC", "p2sh", "M"), (b"\x16", "DOGE", "p2sh", "9"),
    (b"\x1c\xbd", "ZEC", "p2sh", "t3"),
])
def test_version_bytes_self_encoded(version: bytes, coin: str, kind: str, first: str) -> None:
    # No public sample at hand for these: encode a hash160 ourselves (self-consistency only).
    address = _b58check_encode(version, bytes(range(20)))
    assert address.startswith(first)
    match = classify_wallet(address)
    assert match is not None and (match.coin, match.kind) == (coin, kind)
    assert classify_wallet(address[:-1] + ("2" if address[-1] != "2" else "3")) is None


def test_unknown_version_byte_is_not_a_wallet() -> None:
    assert classify_wallet(_b58check_encode(b"\x6f", bytes(20))) is None  # Bitcoin testnet


# ------------------------------------------------------------------------------------ Bech32

@pytest.mark.parametrize(("address", "kind"), [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "p2wpkh"),  # BIP-350 valid vectors
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "p2tr"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "witness_v2"),
    ("BC1SW50QGDZ25J", "witness_v16"),
    ("bc1qz2zqqgdz7whfmmkpcthn5gkv4ew4dfjs6fyeat", "p2wpkh"),  # public pool config (poolin)
])
def test_segwit_addresses(address: str, kind: str) -> None:
    assert classify_wallet(address) == WalletMatch("BTC", address, kind)


@pytest.mark.parametrize("address", [  # BIP-350 invalid vectors, with the reason
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",  # Bech32 instead of Bech32m
    "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL",  # Bech32 instead of Bech32m
    "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",  # Bech32m instead of Bech32
    "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4",  # invalid checksum character
    "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",  # invalid witness version
    "bc1pw5dgrnzv",  # program length 1
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",  # 41 bytes
    "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",  # bad v0 program length
    "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",  # too much padding
    "bc1gmk9yu",  # empty data
    "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",  # testnet: not recognised
])
def test_segwit_invalid_vectors(address: str) -> None:
    assert classify_wallet(address) is None


def test_mixed_case_bech32_is_rejected() -> None:
    assert classify_wallet("bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4") is None


def test_litecoin_segwit_self_encoded() -> None:
    # ltc1 address built from the BIP-350 v0 program with HRP "ltc" (self-consistency).
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    program = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")
    bits = "".join(f"{b:08b}" for b in program)
    values = [0] + [int(bits[i:i + 5], 2) for i in range(0, len(bits), 5)]  # witness v0 + program

    def polymod(vs: list[int]) -> int:
        gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
        chk = 1
        for v in vs:
            top = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if (top >> i) & 1 else 0
        return chk

    hrp = "ltc"
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    mod = polymod(expanded + values + [0] * 6) ^ 1
    address = hrp + "1" + "".join(charset[v] for v in values + [(mod >> 5 * (5 - i)) & 31 for i in range(6)])
    assert classify_wallet(address) == WalletMatch("LTC", address, "p2wpkh")


# ------------------------------------------------------------------------------------ Ergo

@pytest.mark.parametrize(("address", "kind"), [  # docs.ergoplatform.com "Address Types" mainnet examples
    ("9fRAWhdxEsTcdb8PhGNrZfwqa65zfkuYHAMmkQLcic1gdLSV5vA", "p2pk"),
    ("8UApt8czfFVuTgQmMwtsRBZ4nfWquNiSwCWUjMg", "p2sh"),
    ("4MQyML64GnzMxZgm", "p2s"),
    ("BxKBaHkvrTvLZrDcZjcsxsF7aSsrN73ijeFZXtbj4CXZHHcvBtqSxQ", "p2s"),
])
def test_ergo_addresses(address: str, kind: str) -> None:
    assert classify_wallet(address) == WalletMatch("ERG", address, kind)


def test_ergo_testnet_and_typo_are_rejected() -> None:
    assert classify_wallet("3WvsT2Gm4EpsM9Pg18PdY6XyhNNMqXDsvJTbbf6ihLvAmSb7u5RN") is None  # testnet P2PK
    assert classify_wallet("9fRAWhdxEsTcdb8PhGNrZfwqa65zfkuYHAMmkQLcic1gdLSV5vB") is None


# ------------------------------------------------------------------------------------ hostile input

@pytest.mark.parametrize("value", [
    None, 42, b"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "", "x", "1" * 10_000_000,
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\x00", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\n",
    " 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNа",  # Cyrillic 'а'
    "0x" + "é" * 40, "\u202e0x9c99d212f7e5daa18ab50810e0fd255d1f04303b", "bc1" + "q" * 500,
    "4" * 95, "9" * 512, "0x" + "0" * 40 + "\t",
])
def test_hostile_strings_are_not_wallets(value: object) -> None:
    started = time.perf_counter()
    assert classify_wallet(value) is None
    assert time.perf_counter() - started < 0.5


# ------------------------------------------------------------------------------------ split_login

XMR_A = "46WNbmwXpYxiBpkbHjAgjC65cyzAxtaaBQjcGpAZquhBKw2r8NtPQniEgMJcwFMCZzSBrEJtmPsTR54MoGBDbjTi2W1XmgM"
XMR_B = "4BCeEPhodgPMbPWFN1dPwhWXdRX8q4mhhdZdA1dtSMLTLCEYvAj9QXjXAfF7CugEbmfBhgkqHbdgK9b2wKA6nqRZQCgvCDm"
PID = "cb2b73415c4faf214035a73b9d947c202342f3bf3bdf632132bd6d7af98cb257"


@pytest.mark.parametrize(("login", "wallet", "worker", "account", "extra"), [
    # shared corpus logins
    ("0x9c99d212f7e5daa18ab50810e0fd255d1f04303b/tester.worker1/vvesely@mailinator",
     "0x9c99d212f7e5daa18ab50810e0fd255d1f04303b", "tester.worker1", None, (("email", "vvesely@mailinator"),)),
    ("0x0fccfff9e61a230ff380530c6827caf4759337c6.rig2", "0x0fccfff9e61a230ff380530c6827caf4759337c6", "rig2", None, ()),
    (f"{XMR_B}.{PID}.ryzen", XMR_B, "ryzen", None, (("payment_id", PID),)),
    (f"{XMR_A}.coin-hive", XMR_A, "coin-hive", None, ()),
    (XMR_A, XMR_A, None, None, ()),
    ("t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4", "t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd", "rig4", None, ()),
    ("broatcast", None, None, "broatcast", ()),  # bitminter account (bitcoin-mining.pcap)
    # forms from public pool documentation and configs
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed/rig1", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "rig1", None, ()),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed.rig1/joe@acme.com",
     "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "rig1", None, (("email", "joe@acme.com"),)),
    ("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed.rig1/joe%40acme.com",  # %40 is not decoded
     "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "rig1", None, (("path", "joe%40acme.com"),)),
    (f"{XMR_A}+50000", XMR_A, None, None, (("difficulty", "50000"),)),
    ("DOGE:DFWN1v42yR28X8tSoYSgroARTtXJQBKYrq.gangbang", "DFWN1v42yR28X8tSoYSgroARTtXJQBKYrq", "gangbang", None,
     (("coin", "DOGE"),)),
    ("bnb:0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed.WorkerName#ref=nksi-ouwo",
     "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "WorkerName", None, (("coin", "BNB"), ("ref", "ref=nksi-ouwo"))),
    ("montyanderson.pc", None, "pc", "montyanderson", ()),  # antpool account.worker
    ("o123o.001", None, "001", "o123o", ()),  # Binance Pool account.worker
    ("USERNAME.WORKERNAME", None, "WORKERNAME", "USERNAME", ()),
    ("x", None, None, "x", ()),
])
def test_split_login(login: str, wallet: str | None, worker: str | None, account: str | None,
                     extra: tuple[tuple[str, str], ...]) -> None:
    parts = split_login(login)
    assert (parts.wallet, parts.worker, parts.account, parts.extra) == (wallet, worker, account, extra)
    assert (parts.match is not None) == (wallet is not None)
    if parts.match is not None:
        assert parts.match.address == wallet


@pytest.mark.parametrize("value", [
    None, 7, "", "   ", "a" * 2000, "wallet\x00.worker", "🙂.rig", "0x9c99d212f7e5daa18ab50810e0fd255d1f04303b\n.rig",
])
def test_split_login_hostile(value: object) -> None:
    assert split_login(value) == LoginParts()


def test_split_login_huge_is_fast() -> None:
    started = time.perf_counter()
    assert split_login("a." * 5_000_000) == LoginParts()
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("login, account, worker", [
    ("accounting-pc7@protonmail.com", "accounting-pc7@protonmail.com", None),
    ("user@example.org.rig1", "user@example.org", "rig1"),
    ("first.last@mail.co.uk", "first.last@mail.co.uk", None),
])
def test_email_logins_are_accounts(login, account, worker):
    parts = split_login(login)
    assert (parts.wallet, parts.account, parts.worker) == (None, account, worker)
