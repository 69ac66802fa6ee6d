"""Mining dialects: one module per protocol family, listed in ``REGISTRY``.

Each module exposes the same small interface:

    NAME                                     dialect name used in findings ("stratum", …)
    role_of(msg) -> "client" | "server" | None
        whether the message is one of this dialect's methods, and which side sends it
    confirms(msg) -> bool                    the message alone proves a mining session
    on_message(session, msg, from_client, ts) -> None
        record what the message says (identity, difficulty, shares, replies) in the Session

``stratum`` also covers EthereumStratum/1.0.0 (it sets the session dialect to "ethstratum").
Encrypted and binary protocols (TLS, DNS, Stratum V2) have their own parsers in this package but
do not speak JSON-RPC, so they are not in the registry.
"""

from __future__ import annotations

from types import ModuleType

from detector.dialects import ethproxy, gbt, monero, stratum
from detector.jsonrpc import Message

REGISTRY: dict[str, ModuleType] = {
    stratum.NAME: stratum,
    ethproxy.NAME: ethproxy,
    monero.NAME: monero,
    gbt.NAME: gbt,
}

#: every value a session's ``dialect`` can take, mapped to the module that decodes it
DIALECTS: dict[str, ModuleType] = {**REGISTRY, "ethstratum": stratum}


def _method_index() -> dict[str, tuple[ModuleType, ...]]:
    from detector.dialects.vocab import vocabulary

    index: dict[str, list[ModuleType]] = {}
    for name, module in REGISTRY.items():
        vocab = vocabulary(name)
        for method in vocab.client | vocab.server:
            index.setdefault(method, []).append(module)
    return {method: tuple(modules) for method, modules in index.items()}


#: method name -> the dialects whose vocabulary has it (rules/dialects.toml), built once
_BY_METHOD = _method_index()
#: every method some dialect may claim: a message of any other method is claimed by none
METHODS: frozenset[str] = frozenset(_BY_METHOD)


def claim(msg: Message) -> tuple[ModuleType, str] | None:
    """The dialect module that owns a request/notification, and the sender's role."""
    method = msg.method
    if method is None:  # a response: only the pending request says whose it is
        return None
    modules = _BY_METHOD.get(method)
    if modules is None:
        return None
    for module in modules:
        role = module.role_of(msg)
        if role is not None:
            return module, role
    return None


__all__ = ["DIALECTS", "METHODS", "REGISTRY", "Message", "claim"]
