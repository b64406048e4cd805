"""SQLModel tables. Importing this package registers every table on ``SQLModel.metadata``."""

from ddms.models.alarm import (
    Alarm,
    AlarmEvent,
    AlarmKind,
    AlarmSeverity,
    AlarmState,
    Notification,
    NotificationType,
    Transition,
)
from ddms.models.browser_session import BrowserSession
from ddms.models.channel import ChannelDelivery, ChannelType, DeliveryState, NotificationChannel, SmtpTls
from ddms.models.configuration import SINGLETON_ID, Configuration
from ddms.models.device import (
    ByteOrder,
    DataType,
    Device,
    DeviceGroup,
    DeviceStatus,
    Group,
    Reading,
)
from ddms.models.display_token import DisplayToken
from ddms.models.rollup import Rollup1Day, Rollup1Hour, Rollup1Min, RollupDirty
from ddms.models.types import UTCDateTime, utcnow
from ddms.models.user import (
    ASSIGNABLE_ROLES,
    EDITOR_ROLES,
    Language,
    LoginFailure,
    RefreshToken,
    Role,
    User,
    can_edit,
)

__all__ = [
    "ASSIGNABLE_ROLES",
    "EDITOR_ROLES",
    "SINGLETON_ID",
    "Alarm",
    "AlarmEvent",
    "AlarmKind",
    "AlarmSeverity",
    "AlarmState",
    "BrowserSession",
    "ByteOrder",
    "ChannelDelivery",
    "ChannelType",
    "Configuration",
    "DataType",
    "DeliveryState",
    "Device",
    "DeviceGroup",
    "DeviceStatus",
    "DisplayToken",
    "Group",
    "Language",
    "LoginFailure",
    "Notification",
    "NotificationChannel",
    "NotificationType",
    "Reading",
    "RefreshToken",
    "Role",
    "Rollup1Day",
    "Rollup1Hour",
    "Rollup1Min",
    "RollupDirty",
    "SmtpTls",
    "Transition",
    "UTCDateTime",
    "User",
    "can_edit",
    "utcnow",
]
