"""Fields that take the e-mail addresses customers really have (see accounts/validators.py)."""

from __future__ import annotations

from django import forms
from django.db import models
from rest_framework import serializers

from accounts.validators import validate_international_email


class InternationalEmailFormField(forms.EmailField):
    default_validators = [validate_international_email]


class InternationalEmailField(models.EmailField):
    """An EmailField that accepts UTF-8 local parts and internationalised domains."""

    default_validators = [validate_international_email]

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": InternationalEmailFormField, **kwargs})


class InternationalEmailSerializerField(serializers.CharField):
    """DRF's EmailField, with the same rules as the model field."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)
        self.validators.append(validate_international_email)
