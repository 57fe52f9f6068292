#!/usr/bin/env python3
"""Generates a Portcullis configuration with N tools, for the idle-memory measurement.

Writes into OUTDIR: portcullis.yaml, inventory.openapi.yaml (N operations: alternately a GET
with a path parameter and three query parameters, and a POST with a JSON body of six
properties, one nested object and one array), and policies/bench.cedar (one permit for the
whole `risk:low` action group, so every tool is visible and callable).

Usage: gen_tools.py N OUTDIR --gateway-port P --upstream-port Q
"""

import argparse
import json
import os
import sys

RESOURCES = [
    "widget", "invoice", "shipment", "customer", "ticket", "product", "warehouse", "supplier",
    "contract", "payment", "refund", "coupon", "review", "subscription", "report", "device",
]


def get_operation(i, resource):
    return {
        "operationId": f"get{resource.capitalize()}{i:04d}",
        "summary": f"Get one {resource} (variant {i}) by its numeric id.",
        "description": (
            f"Returns the full record of a single {resource}: its status, owner, timestamps "
            f"and the related records selected with `expand`. Use this when the user asks "
            f"about one specific {resource} and you know its id; use the list operation to "
            f"find ids. Fields the caller may not see are omitted rather than redacted."
        ),
        "parameters": [
            {"name": "id", "in": "path", "required": True,
             "description": f"The {resource}'s numeric id.",
             "schema": {"type": "integer", "minimum": 1, "maximum": 100000000}},
            {"name": "expand", "in": "query", "required": False,
             "description": "Related records to include.",
             "schema": {"type": "string", "enum": ["owner", "history", "attachments", "none"]}},
            {"name": "locale", "in": "query", "required": False,
             "description": "BCP 47 language tag for human-readable fields.",
             "schema": {"type": "string", "maxLength": 35, "pattern": "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$"}},
            {"name": "version", "in": "query", "required": False,
             "description": "Return the record as it was at this revision.",
             "schema": {"type": "integer", "minimum": 0, "maximum": 1000000}},
        ],
        "responses": {"200": {"description": f"The {resource}.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }


def post_operation(i, resource):
    return {
        "operationId": f"update{resource.capitalize()}{i:04d}",
        "summary": f"Update fields of one {resource} (variant {i}).",
        "description": (
            f"Changes the given fields of a {resource} and returns the updated record. Fields "
            f"left out keep their value. The change is recorded in the {resource}'s history "
            f"with the reason given. Only call this when the user clearly asked for the change."
        ),
        "parameters": [
            {"name": "id", "in": "path", "required": True,
             "description": f"The {resource}'s numeric id.",
             "schema": {"type": "integer", "minimum": 1, "maximum": 100000000}},
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object",
            "additionalProperties": False,
            "required": ["reason"],
            "properties": {
                "status": {"type": "string", "enum": ["draft", "active", "suspended", "closed"],
                           "description": "New lifecycle status."},
                "owner_id": {"type": "integer", "minimum": 1, "description": "New owner."},
                "title": {"type": "string", "maxLength": 200, "description": "Display title."},
                "labels": {"type": "array", "maxItems": 20,
                           "items": {"type": "string", "maxLength": 40},
                           "description": "Labels replacing the current ones."},
                "address": {"type": "object", "additionalProperties": False,
                            "properties": {"line1": {"type": "string", "maxLength": 100},
                                           "city": {"type": "string", "maxLength": 60},
                                           "country": {"type": "string", "minLength": 2, "maxLength": 2}},
                            "description": "Postal address, if the record has one."},
                "reason": {"type": "string", "maxLength": 500,
                           "description": "Why the change is made, in one sentence."},
            },
        }}}},
        "responses": {"200": {"description": f"The updated {resource}.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }


def openapi(count):
    paths = {}
    for i in range(count):
        resource = RESOURCES[i % len(RESOURCES)]
        if i % 2 == 0:
            paths[f"/v{i}/{resource}s/{{id}}"] = {"get": get_operation(i, resource)}
        else:
            paths[f"/v{i}/{resource}s/{{id}}"] = {"post": post_operation(i, resource)}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"Inventory API ({count} operations, generated)", "version": "1.0.0"},
        "paths": paths,
    }


CONFIG = """\
# Generated by bench/e2e/gen_tools.py: {count} tools, for the idle-memory measurement.
listener:
  address: 127.0.0.1:{gateway_port}
  public_url: http://127.0.0.1:{gateway_port}
data_dir: data
agents:
  - id: bench-agent
    client_secret: env:BENCH_CLIENT_SECRET
    roles: [support]
    scopes: [inventory:read, inventory:write]
apis:
  - name: inventory
    base_url: http://127.0.0.1:{upstream_port}
    openapi: inventory.openapi.yaml
    credential:
      type: bearer
      secret: env:BENCH_UPSTREAM_TOKEN
    egress:
      allow_private: [127.0.0.1/32]
tools:
  - api: inventory
    operations: ["*"]
    risk: low
policies: policies
audit:
  sync: full
"""

POLICY = """\
// Generated by bench/e2e/gen_tools.py: the support role may call every low-risk tool.
@id("bench-all-low-risk")
permit (
    principal in Portcullis::Role::"support",
    action in Portcullis::Action::"risk:low",
    resource == Portcullis::Api::"inventory"
);
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int)
    parser.add_argument("outdir")
    parser.add_argument("--gateway-port", type=int, required=True)
    parser.add_argument("--upstream-port", type=int, required=True)
    args = parser.parse_args()
    if args.count < 1:
        sys.exit("count must be at least 1")
    os.makedirs(os.path.join(args.outdir, "policies"), exist_ok=True)
    # JSON is valid YAML; it keeps the generator free of a YAML library.
    with open(os.path.join(args.outdir, "inventory.openapi.yaml"), "w") as f:
        json.dump(openapi(args.count), f, indent=1)
    with open(os.path.join(args.outdir, "portcullis.yaml"), "w") as f:
        f.write(CONFIG.format(count=args.count, gateway_port=args.gateway_port,
                              upstream_port=args.upstream_port))
    with open(os.path.join(args.outdir, "policies", "bench.cedar"), "w") as f:
        f.write(POLICY)


if __name__ == "__main__":
    main()
