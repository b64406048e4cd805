"""SQLModel tables. Importing this package registers every table on ``SQLModel.metadata``."""

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
from ddms.models.types import UTCDateTime, utcnow
from ddms.models.user import Language, RefreshToken, Role, User

__all__ = [
    "SINGLETON_ID",
    "ByteOrder",
    "Configuration",
    "DataType",
    "Device",
    "DeviceGroup",
    "DeviceStatus",
    "Group",
    "Language",
    "Reading",
    "RefreshToken",
    "Role",
    "UTCDateTime",
    "User",
    "utcnow",
]
