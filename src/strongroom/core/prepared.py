"""One-row lookups on a hot path, compiled once instead of on every request.

Building an ORM query (``Model.objects.select_related(...).get(col=value)``) costs about a
millisecond of Python per call — more than running it. :class:`PreparedGet` asks the ORM to
compile the query once per database connection, remembers its SQL, its result converters
and how to build the model instances (``select_related`` included), and on each call only
runs the SQL with the new value and builds the instances exactly as the ORM's own iterator
does (``Model.from_db``, the backend's and fields' converters, the related populators). The
SQL and the objects are the ORM's; only the repeated compilation is gone.

Only for lookups on a unique column (a primary key, a token hash): the result is one object
or None.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, models
from django.db.models.query import get_related_populators

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slot: int
    compiler: Any
    converters: dict[int, Any]
    init_list: list[str]
    model_end: int
    populators: list[Any]


class PreparedGet(Generic[M]):
    """``PreparedGet(Account, "pk", select_related=("resource",)).get(value)`` is
    ``Account.objects.select_related("resource").filter(pk=value).first()`` without building
    the query each time."""

    # A value no real lookup uses; compiled in, then found in the parameters and replaced.
    _SENTINEL = "\x01strongroom-prepared-sentinel\x01"

    def __init__(
        self, model: type[M], field: str, *, select_related: Sequence[str] = (), using: str = ""
    ) -> None:
        self.model = model
        self.field_name = field
        found = model._meta.pk if field == "pk" else model._meta.get_field(field)
        if not isinstance(found, models.Field):
            raise TypeError(f"{model.__name__}.{field} is not a column")
        self.field: models.Field[Any, Any] = found
        self.select_related = tuple(select_related)
        self.using = using or "default"
        self._compiled: weakref.WeakKeyDictionary[Any, _Compiled] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _sentinel(self) -> Any:
        if isinstance(self.field, models.UUIDField):
            return "01234567-89ab-cdef-0123-456789abcdef"
        return self._SENTINEL

    def _prep(self, value: Any, connection: Any) -> Any:
        return self.field.get_db_prep_value(self.field.get_prep_value(value), connection)

    def _compile(self, connection: Any) -> _Compiled:
        sentinel = self._sentinel()
        qs = self.model._default_manager.using(self.using).filter(**{self.field_name: sentinel})
        if self.select_related:
            qs = qs.select_related(*self.select_related)
        compiler = qs.query.get_compiler(using=self.using, connection=connection)
        sql, params = compiler.as_sql()
        prepped = self._prep(sentinel, connection)
        slots = [i for i, p in enumerate(params) if p == prepped]
        if len(slots) != 1:
            raise RuntimeError(f"cannot prepare the lookup of {self.model.__name__}")
        converters = compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]])
        klass_info = compiler.klass_info
        select_fields = klass_info["select_fields"]
        start, end = select_fields[0], select_fields[-1] + 1
        if start != 0:
            raise RuntimeError(f"cannot prepare the lookup of {self.model.__name__}")
        return _Compiled(
            sql=sql,
            params=tuple(params),
            slot=slots[0],
            compiler=compiler,
            converters=converters,
            init_list=[f[0].target.attname for f in compiler.select[start:end]],
            model_end=end,
            populators=get_related_populators(klass_info, compiler.select, self.using),  # type: ignore[call-arg]
        )

    def get(self, value: Any) -> M | None:
        """The one object whose field equals ``value``, or None."""
        connection = connections[self.using]
        compiled = self._compiled.get(connection)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(connection)
                if compiled is None:
                    compiled = self._compiled[connection] = self._compile(connection)
        params = list(compiled.params)
        params[compiled.slot] = self._prep(value, connection)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchmany(2)
        if not rows:
            return None
        if len(rows) > 1:
            raise self.model.MultipleObjectsReturned(  # type: ignore[attr-defined]
                f"more than one {self.model.__name__} has this {self.field_name}"
            )
        if compiled.converters:
            rows = list(compiled.compiler.apply_converters(rows, compiled.converters))
        row = rows[0]
        obj = self.model.from_db(self.using, compiled.init_list, row[: compiled.model_end])
        for populator in compiled.populators:
            populator.populate(row, obj)
        return obj
