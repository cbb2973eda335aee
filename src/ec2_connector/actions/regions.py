"""Region and availability zone actions."""

from __future__ import annotations

from ..spec.fields import Fields
from ..spec.params import Boolean, Param, StringList
from ..spec.resources import resource
from .shapes import FILTERS, FILTERS_IN, listing

REGION_FIELDS: Fields = {
    "region-name": "RegionName",
    "endpoint": "Endpoint",
    "opt-in-status": "OptInStatus",
}
ZONE_FIELDS: Fields = {
    "zone-name": "ZoneName",
    "zone-id": "ZoneId",
    "state": "State",
    "region-name": "RegionName",
    "zone-type": "ZoneType",
    "group-name": "GroupName",
    "opt-in-status": "OptInStatus",
}

ACTIONS = (
    listing("region", REGION_FIELDS, "region",
            "The regions enabled for the account (all-regions: every one, with its opt-in "
            "status).",
            name="get-regions", aliases=("describe-regions",),
            params=(Param("region-name", StringList(resource("region").id_type),
                          "only these regions"),
                    Param("all-regions", Boolean(), "also regions not enabled for the account"),
                    FILTERS),
            inputs={"region-name": "RegionNames", "all-regions": "AllRegions",
                    "filters": FILTERS_IN},
            example={"all-regions": True}),
    listing("availability-zone", ZONE_FIELDS, "availability-zones",
            "The availability zones of the region (all: with those not opted in).",
            name="describe-availability-zones",
            params=(Param("zone-name", StringList(resource("availability-zone").id_type),
                          "only these zones"),
                    Param("all-availability-zones", Boolean(), "also zones not opted in"),
                    FILTERS),
            inputs={"zone-name": "ZoneNames", "all-availability-zones": "AllAvailabilityZones",
                    "filters": FILTERS_IN},
            example={"zone-name": ["us-east-1a"]}),
)
