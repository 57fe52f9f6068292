// Included by `benches/guards.rs` and `examples/dlp_count.rs`: one definition of the sample.

/// A page of orders with customer records, close to 16 KB serialized.
fn typical_answer() -> serde_json::Value {
    let mut orders = Vec::new();
    let mut id = 1u64;
    loop {
        orders.push(serde_json::json!({
            "id": id,
            "status": "shipped",
            "item": "Desk lamp with warm white LED and dimmer",
            "quantity": id % 4 + 1,
            "total_cents": 4_999 * (id % 4 + 1),
            "created_at": format!("2025-03-{:02}T10:15:30Z", id % 28 + 1),
            "tracking": format!("1Z999AA1{:010}", id * 7919),
            "customer": {
                "id": id % 20 + 1,
                "name": "Grace Hopper",
                "email": format!("grace.hopper{id}@example.com"),
                "phone": format!("+1202555{:04}", 100 + id),
                "card_number": "4111111111111111",
            },
            "notes": "Customer asked to leave the parcel with the neighbour; call before delivery.",
            "request_id": format!("5b3f1c2e-0d4e-4b1a-9a77-{:012}", id),
        }));
        let value = serde_json::json!({ "orders": orders, "total": id });
        if value.to_string().len() >= 16 * 1024 {
            return value;
        }
        id += 1;
    }
}
