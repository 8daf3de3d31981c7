"""Reading and applying the export policy (docs/exports.md has the full rules).

Who may export
--------------
Each user gets one answer, from the most specific rule that speaks about them:

1. a rule for the **user** themself;
2. else the rules for the **user groups** they belong to: if any of those groups is
   refused, export is refused (a refusal is never outvoted by another group's allowance);
   otherwise, if any is allowed, export is allowed;
3. else a rule for their **role**;
4. else the **global** switch.

Inactive users never export, whatever the rules say.

The passphrase of an encrypted copy must be at least ``passphrase_min_length`` characters,
reach ``passphrase_min_score`` (0-4) on the zxcvbn strength estimate (computed over the
first 72 characters, with the user's names as known words) and must not be the user's
sign-in password.

PBKDF2 iterations are never below :func:`iterations_minimum`: 600,000 in production. Tests,
and only tests, lower it with the Django setting ``STRONGROOM_EXPORT_MIN_ITERATIONS``
(it is not read from the environment, so no deployment can lower it by accident).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from strongroom.accounts.models import Role, User, UserGroup
from strongroom.core.errors import ErrorCode, PermissionDenied, Throttled, ValidationFailed
from strongroom.crypto import kdbx, offline
from strongroom.exports.models import (
    DEFAULT_HTML_ATTACHMENT_MAX_BYTES,
    DEFAULT_HTML_ATTACHMENTS_TOTAL_BYTES,
    OFFLINE_FORMATS,
    ExportPolicy,
    ExportRule,
)

PRODUCTION_MIN_ITERATIONS = offline.MIN_ITERATIONS  # 600,000
MAX_ITERATIONS = offline.MAX_ITERATIONS
MIN_LENGTH_FLOOR = 8
MIN_LENGTH_CEILING = 256
MAX_AGE_CEILING_DAYS = 3650
ZXCVBN_MAX_LENGTH = 72
MAX_PASSPHRASE_LENGTH = 1024
SCORE_LABELS = ("very weak", "weak", "fair", "strong", "very strong")


class ExportRefused(PermissionDenied):
    """The policy does not allow this export (audited as a failed export)."""

    code = ErrorCode.EXPORT_REFUSED


@dataclass(frozen=True)
class Policy:
    export_enabled: bool
    plain_text_allowed: bool
    reason_required: bool
    passphrase_min_length: int
    passphrase_min_score: int
    kdf_iterations: int
    max_age_days: int
    offline_formats: tuple[str, ...] = OFFLINE_FORMATS
    kdbx_memory_mib: int = kdbx.DEFAULT_MEMORY_KIB // 1024
    kdbx_iterations: int = kdbx.DEFAULT_ITERATIONS
    kdbx_parallelism: int = kdbx.DEFAULT_PARALLELISM
    html_attachment_max_bytes: int = DEFAULT_HTML_ATTACHMENT_MAX_BYTES
    html_attachments_total_bytes: int = DEFAULT_HTML_ATTACHMENTS_TOTAL_BYTES

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_enabled": self.export_enabled,
            "plain_text_allowed": self.plain_text_allowed,
            "reason_required": self.reason_required,
            "passphrase_min_length": self.passphrase_min_length,
            "passphrase_min_score": self.passphrase_min_score,
            "kdf_iterations": self.kdf_iterations,
            "max_age_days": self.max_age_days,
            "offline_formats": list(self.offline_formats),
            "kdbx_memory_mib": self.kdbx_memory_mib,
            "kdbx_iterations": self.kdbx_iterations,
            "kdbx_parallelism": self.kdbx_parallelism,
            "html_attachment_max_bytes": self.html_attachment_max_bytes,
            "html_attachments_total_bytes": self.html_attachments_total_bytes,
        }

    def kdbx_keys_create(self, passphrase: str) -> kdbx.KdbxKeys:
        """New KeePass copy keys at this policy's Argon2id cost."""
        return kdbx.kdbx_keys_create(
            passphrase=passphrase,
            memory_kib=self.kdbx_memory_mib * 1024,
            iterations=self.kdbx_iterations,
            parallelism=self.kdbx_parallelism,
        )

    def expires_at(self, generated_at: datetime) -> datetime | None:
        """The advisory expiry written into an offline copy (None when ``max_age_days`` is 0)."""
        if self.max_age_days <= 0:
            return None
        return generated_at + timedelta(days=self.max_age_days)


def iterations_minimum() -> int:
    """The least PBKDF2 work any copy gets: 600,000 unless a test lowered it."""
    value = getattr(settings, "STRONGROOM_EXPORT_MIN_ITERATIONS", PRODUCTION_MIN_ITERATIONS)
    return max(1, int(value))


def policy_get() -> Policy:
    """The current global policy (the defaults until an administrator saves one)."""
    row = ExportPolicy.objects.filter(pk=1).first() or ExportPolicy()
    return Policy(
        export_enabled=row.export_enabled,
        plain_text_allowed=row.plain_text_allowed,
        reason_required=row.reason_required,
        passphrase_min_length=row.passphrase_min_length,
        passphrase_min_score=row.passphrase_min_score,
        # A stored value below today's minimum (say, written while a test lowered it) is
        # raised, never honoured.
        kdf_iterations=max(row.kdf_iterations, iterations_minimum()),
        max_age_days=row.max_age_days,
        offline_formats=tuple(f for f in OFFLINE_FORMATS if f in (row.offline_formats or ())),
        kdbx_memory_mib=row.kdbx_memory_mib,
        kdbx_iterations=row.kdbx_iterations,
        kdbx_parallelism=row.kdbx_parallelism,
        html_attachment_max_bytes=row.html_attachment_max_bytes,
        html_attachments_total_bytes=row.html_attachments_total_bytes,
    )


FORMAT_LABELS = {"html": "Encrypted web page (.html)", "kdbx": "KeePass database (.kdbx)"}


def offline_format_clean(value: Any, *, policy: Policy) -> str:
    """The offline copy format asked for ("html" when not given), if the policy allows it.
    A format the policy turned off is an export refusal (audited like one)."""
    fmt = "html" if value in (None, "") else value
    if not isinstance(fmt, str) or fmt.lower() not in OFFLINE_FORMATS:
        raise ValidationFailed(
            "format must be html or kdbx", field="format", allowed=list(OFFLINE_FORMATS)
        )
    fmt = fmt.lower()
    if fmt not in policy.offline_formats:
        raise ExportRefused(
            f"the export policy does not allow {FORMAT_LABELS[fmt]} copies; choose "
            + " or ".join(FORMAT_LABELS[f] for f in policy.offline_formats),
            field="format",
            refusal="format_not_allowed",
            allowed=list(policy.offline_formats),
        )
    return fmt


# --------------------------------------------------------------------------- who may export


@dataclass(frozen=True)
class ExportDecision:
    """Whether the user may export, and which rule said so (``source`` is ``user``,
    ``user_group``, ``role``, ``global`` or ``inactive``)."""

    allowed: bool
    source: str
    explanation: str


def export_decision(*, user: User, policy: Policy | None = None) -> ExportDecision:
    """Apply the precedence user rule > user-group rules > role rule > global switch."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return ExportDecision(False, "inactive", "inactive accounts cannot export")
    policy = policy or policy_get()
    rule = ExportRule.objects.filter(user_id=user.pk).first()
    if rule is not None:
        return ExportDecision(
            rule.allowed,
            "user",
            f"a rule for your account {'allows' if rule.allowed else 'refuses'} exports",
        )
    member_of = UserGroup.members.through.objects.filter(user_id=user.pk).values("usergroup_id")
    group_rules = list(
        ExportRule.objects.filter(user_group_id__in=member_of)
        .select_related("user_group")
        .order_by("user_group__name")
    )
    refused = [r for r in group_rules if not r.allowed]
    if refused:
        names = ", ".join(f'"{r.user_group.name}"' for r in refused if r.user_group)
        return ExportDecision(
            False, "user_group", f"a rule for your user group {names} refuses exports"
        )
    if group_rules:
        names = ", ".join(f'"{r.user_group.name}"' for r in group_rules if r.user_group)
        return ExportDecision(
            True, "user_group", f"a rule for your user group {names} allows exports"
        )
    rule = ExportRule.objects.filter(role=user.role).first()
    if rule is not None:
        label = Role(user.role).label if user.role in Role.values else user.role
        return ExportDecision(
            rule.allowed,
            "role",
            f"a rule for the role {label} {'allows' if rule.allowed else 'refuses'} exports",
        )
    return ExportDecision(
        policy.export_enabled,
        "global",
        "exports are " + ("allowed" if policy.export_enabled else "turned off") + " for everyone",
    )


def export_require(*, user: User, policy: Policy) -> None:
    decision = export_decision(user=user, policy=policy)
    if not decision.allowed:
        raise ExportRefused(
            f"the export policy does not allow you to export: {decision.explanation}",
            refusal="export_disabled",
            source=decision.source,
        )


def plain_text_require(*, policy: Policy) -> None:
    if not policy.plain_text_allowed:
        raise ExportRefused(
            "the export policy does not allow plain-text exports of passwords; export without "
            "passwords, or take an encrypted HTML file",
            refusal="plain_text_not_allowed",
        )


def reason_clean(value: Any, *, policy: Policy) -> str:
    """The reason as given (trimmed); required when the policy says so."""
    from strongroom.core.validation import text_clean
    from strongroom.vault.validation import MAX_REASON

    reason = text_clean("reason", "" if value is None else value, max_length=MAX_REASON).strip()
    if policy.reason_required and not reason:
        raise ValidationFailed(
            "a reason is required to export (the administrator made it mandatory)",
            code=ErrorCode.REASON_REQUIRED,
            field="reason",
            problem="required",
            refusal="reason_required",
        )
    return reason


# --------------------------------------------------------------------------- passphrases


@dataclass(frozen=True)
class PassphraseStrength:
    score: int  # 0-4, as zxcvbn
    label: str
    warning: str
    suggestions: tuple[str, ...]


def passphrase_strength(
    passphrase: str, *, user_inputs: list[str] | None = None
) -> PassphraseStrength:
    """zxcvbn's estimate over the first 72 characters (its limit; more can only help)."""
    text = unicodedata.normalize("NFC", passphrase)[:ZXCVBN_MAX_LENGTH]
    if not text:
        return PassphraseStrength(0, SCORE_LABELS[0], "", ())
    # zxcvbn loads its word lists on import (tens of ms): only where a passphrase is rated,
    # not in every process that loads this module (the CLI, the worker).
    from zxcvbn import zxcvbn

    words = [w for w in (user_inputs or []) if w]
    result = zxcvbn(text, user_inputs=words, max_length=ZXCVBN_MAX_LENGTH)
    score = int(result["score"])
    feedback = result.get("feedback") or {}
    return PassphraseStrength(
        score=score,
        label=SCORE_LABELS[score],
        warning=str(feedback.get("warning") or ""),
        suggestions=tuple(str(s) for s in feedback.get("suggestions") or ()),
    )


def passphrase_problems(*, user: User, passphrase: Any, policy: Policy) -> list[dict[str, str]]:
    """Every way the passphrase fails the policy, as ``{"code", "message"}`` (never the
    passphrase itself). Empty when it is acceptable."""
    if not isinstance(passphrase, str) or not passphrase:
        return [{"code": "required", "message": "a passphrase is required"}]
    if "\x00" in passphrase:
        return [{"code": "invalid", "message": "the passphrase must not contain NUL characters"}]
    try:
        passphrase.encode("utf-8")
    except UnicodeEncodeError:
        return [{"code": "invalid", "message": "the passphrase is not valid Unicode"}]
    # Line breaks and control characters cannot be typed into the viewer's field or a
    # passphrase file line; characters this server's Unicode database does not know may be
    # normalised differently by a newer browser (NFC), so the file would not open there.
    if any(unicodedata.category(c) in ("Cc", "Cn", "Cs") for c in passphrase):
        return [
            {
                "code": "invalid",
                "message": (
                    "the passphrase must not contain line breaks, control characters or "
                    "characters this server does not know"
                ),
            }
        ]
    if len(passphrase) > MAX_PASSPHRASE_LENGTH:
        return [
            {
                "code": "too_long",
                "message": f"the passphrase must be at most {MAX_PASSPHRASE_LENGTH} characters",
            }
        ]
    problems: list[dict[str, str]] = []
    length = len(unicodedata.normalize("NFC", passphrase))
    if length < policy.passphrase_min_length:
        problems.append(
            {
                "code": "too_short",
                "message": (
                    f"the passphrase is {length} characters long; the export policy needs at "
                    f"least {policy.passphrase_min_length}"
                ),
            }
        )
    names = [user.username, user.first_name, user.last_name, user.email, user.full_name]
    names += [part for name in names if name for part in name.replace("@", " ").split()]
    strength = passphrase_strength(passphrase, user_inputs=[*names, "strongroom"])
    if strength.score < policy.passphrase_min_score:
        hint = " ".join(x for x in (strength.warning, *strength.suggestions[:1]) if x)
        problems.append(
            {
                "code": "too_weak",
                "message": (
                    f"the passphrase is too easy to guess (strength {strength.score} of 4, "
                    f"{strength.label}; the export policy needs {policy.passphrase_min_score})"
                    + (f": {hint}" if hint else "")
                ),
            }
        )
    if user.has_usable_password() and user.check_password(passphrase):
        problems.append(
            {
                "code": "login_password",
                "message": "the passphrase must not be your sign-in password",
            }
        )
    return problems


PASSPHRASE_REFUSALS_ALLOWED = 10
PASSPHRASE_REFUSAL_WINDOW = timedelta(minutes=15)


def passphrase_attempts_check(*, user: User) -> None:
    """Refuse (429) after 10 refused passphrases in 15 minutes. The check against the
    sign-in password would otherwise let someone holding a session or API token test
    guesses of the login password here, beyond the sign-in page's throttle. Counted from the
    audit trail, so every server node sees the same number."""
    from django.utils import timezone

    from strongroom.audit.models import AuditEvent

    since = timezone.now() - PASSPHRASE_REFUSAL_WINDOW
    # Any action: the sync set-up checks passphrases with the same rules.
    recent = AuditEvent.objects.filter(
        actor_id=user.pk,
        outcome="failure",
        at__gte=since,
        details__refusal="passphrase_refused",
    ).count()
    if recent >= PASSPHRASE_REFUSALS_ALLOWED:
        raise Throttled(
            "too many refused passphrases; wait a quarter of an hour before trying again",
            retry_after=int(PASSPHRASE_REFUSAL_WINDOW.total_seconds()),
            refusal="throttled",
        )


def passphrase_require(*, user: User, passphrase: Any, policy: Policy) -> None:
    passphrase_attempts_check(user=user)
    problems = passphrase_problems(user=user, passphrase=passphrase, policy=policy)
    if problems:
        raise ValidationFailed(
            "the passphrase does not meet the export policy: "
            + "; ".join(p["message"] for p in problems),
            code=ErrorCode.PASSPHRASE_REFUSED,
            field="passphrase",
            problems=[p["message"] for p in problems],
            problem_codes=[p["code"] for p in problems],
            refusal="passphrase_refused",
        )
