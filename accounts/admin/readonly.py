import functools

from unfold.admin import ModelAdmin


class ReadOnlyAdmin(ModelAdmin):
    """Rows that change only through services (audit trail, metering): staff read them."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def computed_once(method):
    """A read-only field's method, computed once per object shown: unfold's template reads a
    read-only field's value up to three times (to test it, compare it to "None", show it), and
    each read would run the method's queries again."""
    name = method.__name__

    @functools.wraps(method)
    def once(self, obj):
        shown = obj.__dict__.setdefault("_computed_once", {})
        if name not in shown:
            shown[name] = method(self, obj)
        return shown[name]

    return once
