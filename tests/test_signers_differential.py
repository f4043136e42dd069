"""afbundle reads ``allowed_signers`` as OpenSSH does (issue 20, item 5).

A generated corpus of signer files -- principals patterns, every option in forms
OpenSSH accepts and refuses, times in every format, repeated and unknown options,
tabs, comments, blank lines, CRLF, bad keys, and files mixing good and bad lines
-- each judged twice against real signatures: by afbundle (``read_bundle`` with
``trusted_signers``) and by OpenSSH's own ``ssh-keygen -Y verify``. The verdicts
must be the same, case by case.

afbundle names no identity (a line's principals name the signer), so OpenSSH's
verdict is "accepted for some identity": each case lists the identities that
could match its principals (``-I`` is tried with each; the first acceptance
settles it). A principals list that can match no identity (``!*``) lists a few
identities anyway, none of which OpenSSH accepts.

The keys and signatures are made once per module; the OpenSSH verdicts are
computed up front on a few threads; each case is then one cheap afbundle call.
Times are years away from now (2020, 2999), so no verdict depends on the clock.
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _signing import keygen, make_bundle, needs_ssh_keygen, ssh_sign

import afbundle
from afbundle.errors import BundleSignatureError

pytestmark = needs_ssh_keygen

ID = "ci@example.com"


@dataclasses.dataclass(frozen=True)
class Case:
    """One signer file (``{ed}``, ``{rsa}``... stand for keys) and a signed bundle."""

    id: str
    text: str
    signed_by: str = "ed"
    identities: tuple[str, ...] = (ID,)


def line(principals: str = ID, options: str = "", key: str = "{ed}", sep: str = " ") -> str:
    return sep.join(filter(None, [principals, options, key]))


PAST = ["20200101", "202001010000", "20200101000000"]
FUTURE = ["29990101", "299901010000", "29990101000000"]
SUFFIXES = ["", "Z", "z", "UTC", "utc"]
BAD_TIMES = [
    "2020010",
    "2020-01-01",
    "19700101Z",
    "19700101000000Z",
    "19691231Z",
    "20201301",
    "20200132",
    "20200101240000",
    "20200101236000",
    "20200101235962Z",
    "\t2020101",
    "20200101 ",
    "Z",
    "",
    "yesterday",
]
ODD_BUT_VALID_TIMES = ["2020 101", "202001 1", "20200231", "20200101235961Z", "19700101000001Z"]


def corpus() -> list[Case]:
    cases: list[Case] = []

    def add(id: str, text: str, **kw: object) -> None:
        taken = sum(1 for c in cases if c.id == id or c.id.startswith(f"{id} #"))
        cases.append(Case(f"{id} #{taken + 1}" if taken else id, text, **kw))  # type: ignore[arg-type]

    # Principals: patterns, negation, commas, quotes; with identities that could match.
    for principals, identities in [
        (ID, (ID,)),
        ("*@example.com", (ID,)),
        ("c?@example.com", (ID,)),
        ("ops@example.com,ci@example.com", (ID,)),
        ('"ops@example.com,ci@example.com"', (ID,)),
        ('c"i@exa"mple.com', (ID,)),
        ('"ci @x"', ("ci @x",)),
        ("*,!ci@example.com", ("ops", ID)),
        ("!ops,*@example.com", (ID,)),
        ("!ci@example.com", (ID, "ops", "", "!ci@example.com")),
        ("!*", (ID, "", "!*")),
        ("ci@example.com,!ci@example.com", (ID, "")),
        ("ci@example.com,!c?@example.com", (ID,)),
        ('""', ("", ID)),
        (",", ("", ID)),
        ("x,", ("", "x")),
        ('"ci', (ID, '"ci', "ci")),
        ("*" * 3, (ID,)),
        ("x" * 1023 + ",ci@example.com", (ID,)),
        ("x" * 1022 + ",ci@example.com", (ID,)),
    ]:
        add(f"principals {principals[:40]!r}", line(principals) + "\n", identities=identities)

    # namespaces=: lists, patterns, negation, quoting, case, repetition.
    for value in [
        '"afbundle"',
        '"git"',
        '"git,afbundle"',
        '"*"',
        '"af*"',
        '"afbundl?"',
        '"*,!afbundle"',
        '"!afbundle,*"',
        '"!git,*"',
        '""',
        '","',
        '"a b,afbundle"',
        '"a\\"b,afbundle"',
        "afbundle",
        '"afbundle',
        '"afbundle"x',
        '"' + "x" * 1023 + ',afbundle"',
    ]:
        add(f"namespaces={value[:40]}", line(options=f"namespaces={value}") + "\n")
    add("NAMESPACES upper case", line(options='NAMESPACES="afbundle"') + "\n")
    add("namespaces twice", line(options='namespaces="afbundle",namespaces="afbundle"') + "\n")
    add(
        "namespaces twice, the first refusing",
        line(options='namespaces="git",namespaces="afbundle"') + "\n",
    )

    # valid-after= / valid-before=: every format, quoted and not, accepted and refused.
    for option in ["valid-after", "valid-before", "Valid-After", "VALID-BEFORE"]:
        for time in [t + z for t in PAST + FUTURE for z in SUFFIXES]:
            add(f'{option}="{time}"', line(options=f'{option}="{time}"') + "\n")
        for time in BAD_TIMES + ODD_BUT_VALID_TIMES:
            add(f"{option}={time!r} quoted", line(options=f'{option}="{time}"') + "\n")
        for time in ["20200101", "29990101Z"]:
            add(f"{option}={time} unquoted", line(options=f"{option}={time}") + "\n")
    # The revocation an operator writes: another valid-before= in front of the old one.
    add(
        "valid-before repeated (revocation attempt)",
        line(options='valid-before="20200101",valid-before="29990101"') + "\n",
    )
    add(
        "valid-after repeated", line(options='valid-after="20200101",valid-after="20200102"') + "\n"
    )
    for after, before in [
        ("20200101", "29990101"),
        ("20200101", "20200101"),
        ("29990101", "20200101"),
    ]:
        add(
            f"window {after}..{before}",
            line(options=f'valid-after="{after}",valid-before="{before}"') + "\n",
        )

    # Option lists: flags, unknown options, empty and trailing options, case.
    for options in [
        "cert-authority",
        "CERT-AUTHORITY",
        'cert-authority,namespaces="afbundle"',
        "cert-authorityx",
        "cert-authority=1",
        "no-touch-required",
        "verify-required",
        "restrict",
        'bogus="1"',
        'namespaces="afbundle",bogus',
        ',namespaces="afbundle"',
        'namespaces="afbundle",,valid-after="20200101"',
        'namespaces="afbundle",',
        ",",
        'namespaces="afbundle" ',
    ]:
        add(f"options {options!r}", line(options=options) + "\n")

    # Separators, leading blanks, line ends, comments.
    for sep in [" ", "\t", "  ", " \t ", "\t\t"]:
        add(f"separator {sep!r}", line(sep=sep) + "\n")
        add(
            f"separator {sep!r} with options",
            line(options='namespaces="afbundle"', sep=sep) + "\n",
        )
    for text in [
        "  " + line() + "\n",
        "\t" + line() + "\n",
        "\r" + line() + "\n",
        line() + "\r\n",
        line(options='namespaces="afbundle"') + "\r\n",
        line(),
        line() + " the release key\n",
        line() + '\tcomment with "quotes\n',
        line() + "\0" + "garbage\n",
        "# " + line() + "\n",
        "  # " + line() + "\n",
        "#\n\n  \n\t\n" + line() + "\n",
        "\n\n",
        "",
        line(options='namespaces="afbundle"\r', key="{ed}") + "\n",
    ]:
        add(f"text {text[:30]!r}", text)

    # Keys: spellings OpenSSH accepts and refuses.
    for key, signed_by in [
        ("ssh-ed25519  {ed_b64}", "ed"),
        ("ssh-ed25519\t{ed_b64}", "ed"),
        ("ssh-ed25519 {ed_b64_split}", "ed"),
        ("ssh-ed25519 {ed_b64}=", "ed"),
        ("ssh-ed25519 {ed_b64_short}", "ed"),
        ("ssh-ed25519 {ed_b64}AAAA", "ed"),
        ("ssh-ed25519 {ed_b64}\rcomment", "ed"),
        ("ssh-ed25519 {ed_b64}\x0bcomment", "ed"),
        ("ED25519 {ed_b64}", "ed"),
        ("ssh-rsa {ed_b64}", "ed"),
        ("ssh-ed25519-cert-v01@openssh.com {ed_b64}", "ed"),
        ("ssh-ed25519", "ed"),
        ("{other}", "ed"),
        ("ssh-rsa {rsa_b64}", "rsa"),
        ("rsa-sha2-256 {rsa_b64}", "rsa"),
        ("rsa-sha2-512 {rsa_b64}", "rsa"),
        ("RSA {rsa_b64}", "rsa"),
        ("ecdsa-sha2-nistp256 {ec_b64}", "ec"),
        ("ecdsa-sha2-nistp384 {ec_b64}", "ec"),
    ]:
        add(f"key {key[:40]!r} ({signed_by})", line(key=key) + "\n", signed_by=signed_by)

    # Files: a bad line never hides a good one; refusals in one line, trust in another.
    good = line()
    for bad in [
        line(options="valid-before=20200101"),
        line(options='valid-before="20200101"'),
        line(options='namespaces="git"'),
        line(options="cert-authority"),
        line(key="ssh-ed25519 AAAA-not-base64"),
        line(key="{other}"),
        '"' + ID,
        ID,
        line("!*"),
    ]:
        add(f"bad then good: {bad[:40]!r}", f"{bad}\n{good}\n")
        add(f"good then bad: {bad[:40]!r}", f"{good}\n{bad}\n")
        add(f"bad alone: {bad[:40]!r}", f"{bad}\n")
    add(
        "two windows, one open",
        line(options='valid-before="20200101"')
        + "\n"
        + line(options='valid-after="20200101"')
        + "\n",
    )
    # The signature in another namespace: no line can make OpenSSH accept it.
    add("signature in namespace git", line() + "\n", signed_by="ed_git")
    add(
        "signature in namespace git, git allowed",
        line(options='namespaces="git"') + "\n",
        signed_by="ed_git",
    )

    # Random combinations of the pieces above (seeded: the same corpus every run).
    rng = random.Random(20)
    principals = [ID, "*@example.com", "*,!ci@example.com", "!ci@example.com", '"ci@example.com"']
    fragments = [
        *(f'namespaces="{v}"' for v in ["afbundle", "git", "*,!afbundle", "af*", ""]),
        "namespaces=afbundle",
        *(f'{o}="{t}"' for o in ("valid-after", "valid-before") for t in PAST[:1] + FUTURE[:1]),
        *(f'{o}="{t}Z"' for o in ("valid-after", "valid-before") for t in PAST[1:2] + FUTURE[2:]),
        'valid-after="19700101Z"',
        "valid-before=29990101",
        "cert-authority",
        "no-touch-required",
        "",
    ]
    for i in range(200):
        options = ",".join(rng.sample(fragments, rng.choice([0, 1, 1, 2, 2, 3])))
        who = rng.choice(principals)
        text = line(who, options, rng.choice(["{ed}", "{ed}", "{other}"]), rng.choice([" ", "\t"]))
        text += rng.choice(["\n", "\r\n", ""])
        if rng.random() < 0.3:  # a second line, good or not
            text = f"{line(rng.choice(principals), rng.choice(fragments))}\n{text}"
        add(f"random {i}", text, identities=(ID, "ops"))
    return cases


CORPUS = corpus()


def openssh_accepts(signers: Path, bundle: Path, identities: tuple[str, ...]) -> bool:
    for identity in identities:
        with open(bundle, "rb") as stdin:
            done = subprocess.run(
                ["ssh-keygen", "-Y", "verify", "-f", signers, "-I", identity, "-n", "afbundle",
                 "-s", f"{bundle}.sig"],
                stdin=stdin, capture_output=True, check=False,
            )  # fmt: skip
        if done.returncode == 0:
            return True
    return False


@dataclasses.dataclass
class World:
    bundles: dict[str, Path]
    files: dict[str, Path]
    openssh: dict[str, bool]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("signers-differential")
    base.chmod(0o700)
    keys = {kind: keygen(base, kind, kind) for kind in ("ed25519", "rsa", "ecdsa")}
    other = keygen(base, "other")
    bundles = {}
    for name, key, namespace in [
        ("ed", keys["ed25519"], "afbundle"),
        ("rsa", keys["rsa"], "afbundle"),
        ("ec", keys["ecdsa"], "afbundle"),
        ("ed_git", keys["ed25519"], "git"),
    ]:
        bundles[name] = make_bundle(base / "bundles" / name, name.encode())
        ssh_sign(bundles[name], key, namespace=namespace)

    def public(key: Path) -> list[str]:
        return Path(f"{key}.pub").read_text().split()[:2]

    ed_type, ed_b64 = public(keys["ed25519"])
    values = {
        "ed": f"{ed_type} {ed_b64}",
        "ed_b64": ed_b64,
        "ed_b64_split": f"{ed_b64[:20]}\r{ed_b64[20:]}",
        "ed_b64_short": ed_b64[:-1],
        "rsa_b64": public(keys["rsa"])[1],
        "ec_b64": public(keys["ecdsa"])[1],
        "other": " ".join(public(other)),
    }
    files = {}
    for i, case in enumerate(CORPUS):
        text = case.text
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        path = base / "signers" / f"{i:04d}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        path.chmod(0o644)
        files[case.id] = path
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        verdicts = pool.map(
            lambda c: openssh_accepts(files[c.id], bundles[c.signed_by], c.identities), CORPUS
        )
        openssh = {case.id: verdict for case, verdict in zip(CORPUS, verdicts, strict=True)}
    return World(bundles, files, openssh)


def test_the_corpus_names_each_case_once_and_covers_both_verdicts(world: World) -> None:
    assert len({c.id for c in CORPUS}) == len(CORPUS)
    accepted = sum(world.openssh.values())
    assert 0.2 < accepted / len(CORPUS) < 0.8, (accepted, len(CORPUS))


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_afbundle_and_ssh_keygen_give_the_same_verdict(world: World, case: Case) -> None:
    path = world.files[case.id]
    try:
        bundle = afbundle.read_bundle(world.bundles[case.signed_by], trusted_signers=path)
    except BundleSignatureError as exc:
        ours, why = False, f"{exc.problem}: {exc.reason}"
    else:
        ours, why = True, f"signed by {bundle.signed_by!r}"
    theirs = world.openssh[case.id]
    assert ours == theirs, (
        f"afbundle {'accepts' if ours else 'refuses'} ({why}), ssh-keygen -Y verify "
        f"{'accepts' if theirs else 'refuses'}; file: {path.read_bytes()!r}"
    )
