"""Typed SQLAlchemy models, one module per aggregate; importing this package registers them all."""

from core.models.base import Base, JSONType, Timestamped, UTCDateTime
from core.models.campaigns import Campaign, Cost, ExchangeRate, Message, Variant
from core.models.consent import Consent, Suppression
from core.models.contacts import Account, Contact, ContactEventStat, ContactTag, Tag
from core.models.events import Conversion, Event
from core.models.feedback import InboundRequest
from core.models.journeys import Enrollment, EnrollmentStep, Journey, JourneyStep, JourneyVersion
from core.models.reports import MessageStat, ReportCursor
from core.models.scoring import ScoringModel
from core.models.segments import Segment, SegmentMembership, SegmentSnapshot
from core.models.surveys import Answer, Invitation, Response, Survey, SurveyVersion
from core.models.templates import Template, TemplateVersion
from core.models.users import AuditLog, User

__all__ = [
    "Account", "Answer", "AuditLog", "Base", "Campaign", "Consent", "Contact", "ContactEventStat", "ContactTag",
    "Conversion", "Cost", "Enrollment", "EnrollmentStep", "Event", "ExchangeRate", "InboundRequest", "Invitation",
    "JSONType", "Journey", "JourneyStep", "JourneyVersion", "Message", "MessageStat", "ReportCursor", "Response",
    "ScoringModel", "Segment", "SegmentMembership", "SegmentSnapshot", "Suppression", "Survey", "SurveyVersion", "Tag",
    "Template", "TemplateVersion", "Timestamped", "UTCDateTime", "User", "Variant",
]
