"""TLS as Mesos configures it: by the LIBPROCESS_SSL_* environment (or the older SSL_*
names), which a framework's processes and the executors an agent starts share.

:func:`context_from_env` turns that environment into an :class:`ssl.SSLContext` for
the clients here (``Scheduler(..., tls=context)``; :class:`ratufa.Executor` reads it
by itself), reading the variables as ratufa's own processes do: the server's
certificate is verified unless VERIFY_SERVER_CERT (or VERIFY_CERT) is false, against
CA_FILE and the PEM certificates of every file in CA_DIR, or the system's authorities
when neither is set; CERT_FILE and KEY_FILE, when set, are presented as the client's
certificate (a master with REQUIRE_CLIENT_CERT asks for one).
"""

from __future__ import annotations

import os
import ssl
from typing import Mapping, Optional, Tuple

from .errors import ValidationError

#: The newer prefix first: it wins when both are set.
PREFIXES = ("LIBPROCESS_SSL_", "SSL_")


def _get(env: Mapping[str, str], name: str) -> Optional[Tuple[str, str]]:
    for prefix in PREFIXES:
        if prefix + name in env:
            return prefix + name, env[prefix + name]
    return None


def _flag(env: Mapping[str, str], name: str, alias: Optional[str] = None) -> Optional[bool]:
    found = _get(env, name) or (_get(env, alias) if alias else None)
    if found is None:
        return None
    variable, value = found
    text = value.strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValidationError(f"{variable}: {value!r} is not one of true, false, 1, 0")


def _path(env: Mapping[str, str], name: str) -> Optional[Tuple[str, str]]:
    found = _get(env, name)
    if found is not None and not found[1].strip():
        raise ValidationError(f"{found[0]}: set but empty")
    return found


def enabled(env: Optional[Mapping[str, str]] = None) -> bool:
    """Whether LIBPROCESS_SSL_ENABLED (or SSL_ENABLED) is true."""
    return bool(_flag(os.environ if env is None else env, "ENABLED"))


def context_from_env(env: Optional[Mapping[str, str]] = None) -> Optional[ssl.SSLContext]:
    """The client context the environment asks for; None when TLS is not enabled.
    A variable or file that cannot be used raises :class:`ValidationError` naming it."""
    env = os.environ if env is None else env
    if not enabled(env):
        return None
    require = _flag(env, "REQUIRE_CLIENT_CERT", "REQUIRE_CERT")
    verify = require is True or _flag(env, "VERIFY_SERVER_CERT", "VERIFY_CERT") is not False
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca_file, ca_dir = _path(env, "CA_FILE"), _path(env, "CA_DIR")
    if ca_file or ca_dir:
        # Only the authorities named, as ratufa's processes trust.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_file:
        _load(context, *ca_file)
    if ca_dir:
        variable, directory = ca_dir
        try:
            files = [os.path.join(directory, f) for f in sorted(os.listdir(directory))]
        except OSError as e:
            raise ValidationError(f"{variable}: {directory}: {e}") from e
        # Every file's certificates, hashed names or not; other files are skipped.
        loaded = sum(_load(context, variable, f, strict=False) for f in files if os.path.isfile(f))
        if not loaded:
            raise ValidationError(f"{variable}: {directory}: no PEM certificate in any of its files")
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert, key = _path(env, "CERT_FILE"), _path(env, "KEY_FILE")
    if cert:
        try:
            context.load_cert_chain(cert[1], key[1] if key else None)
        except (OSError, ssl.SSLError) as e:
            named = f"{cert[0]}, {key[0]}" if key else cert[0]
            raise ValidationError(f"{named}: {e}") from e
    return context


def _load(context: ssl.SSLContext, variable: str, path: str, strict: bool = True) -> int:
    """Trusts the certificates of ``path``; 1 if it had some, else 0 (or an error)."""
    try:
        context.load_verify_locations(cafile=path)
        return 1
    except (OSError, ssl.SSLError) as e:
        if strict:
            raise ValidationError(f"{variable}: {path}: {e}") from e
        return 0
