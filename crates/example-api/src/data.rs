//! The orders dataset: 100 orders and 20 customers, generated from their ids alone, plus the
//! little mutable state the write operations need (refunded amounts, deleted customers).

use serde_json::{Value, json};

/// Number of orders; ids run from 1 to this value.
pub(crate) const ORDER_COUNT: u64 = 100;
/// Number of customers; ids run from 1 to this value.
pub(crate) const CUSTOMER_COUNT: u64 = 20;

/// The order statuses, in lifecycle order.
pub(crate) const STATUSES: [&str; 4] = ["placed", "shipped", "delivered", "refunded"];

/// Catalogue items with their unit price in cents.
const ITEMS: [(&str, u64); 10] = [
    ("Ceramic pour-over set", 3_450),
    ("Stainless kettle", 5_900),
    ("Burr grinder", 12_900),
    ("Espresso machine", 34_900),
    ("Paper filters (100)", 650),
    ("Coffee beans 1 kg", 2_400),
    ("Milk frother", 4_500),
    ("Travel mug", 1_990),
    ("Scale with timer", 3_900),
    ("Cleaning tablets", 1_250),
];

const FIRST_NAMES: [&str; 20] = [
    "Ada", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ines", "Jonas", "Kemal",
    "Lucia", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Stefan", "Tomoko",
];

const LAST_NAMES: [&str; 20] = [
    "Lindqvist",
    "Okafor",
    "Marchetti",
    "Volkov",
    "Yilmaz",
    "Haddad",
    "Petrovic",
    "Novak",
    "Duarte",
    "Becker",
    "Aydin",
    "Moreno",
    "Silva",
    "Rahman",
    "Nilsson",
    "Iyer",
    "Laurent",
    "Castillo",
    "Weber",
    "Sato",
];

/// Cumulative days before each month of 2025 (not a leap year).
const DAYS_BEFORE_MONTH: [u64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

/// A customer record.
#[derive(Clone, Debug)]
pub(crate) struct Customer {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) phone: String,
    pub(crate) card_number: String,
    pub(crate) deleted: bool,
}

impl Customer {
    fn generate(id: u64) -> Self {
        let index = usize::try_from((id - 1) % CUSTOMER_COUNT).unwrap_or(0);
        let first = FIRST_NAMES.get(index).copied().unwrap_or("Alex");
        let last = LAST_NAMES.get(index).copied().unwrap_or("Doe");
        Self {
            id,
            name: format!("{first} {last}"),
            email: format!(
                "{}.{}@example.com",
                first.to_ascii_lowercase(),
                last.to_ascii_lowercase()
            ),
            // 555-0100 to 555-0199 are reserved for fiction in the North American plan.
            phone: format!("+1202555{:04}", 100 + id),
            card_number: test_card_number(id),
            deleted: false,
        }
    }

    /// The full customer object; an erased customer keeps only its id.
    fn to_json(&self) -> Value {
        if self.deleted {
            return json!({ "id": self.id, "deleted": true });
        }
        json!({
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "card_number": self.card_number,
        })
    }
}

/// A Luhn-valid 16-digit number in the well-known `4111 11` Visa test range, unique per id.
/// It is not a real card: the range is reserved for testing by payment processors.
pub(crate) fn test_card_number(id: u64) -> String {
    let payload = format!("411111111100{:03}", id % 1000);
    let check = luhn_check_digit(&payload);
    format!("{payload}{check}")
}

/// The digit that makes `payload` followed by it pass the Luhn check.
pub(crate) fn luhn_check_digit(payload: &str) -> u32 {
    let sum: u32 = payload
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(position, digit)| {
            // The check digit will take position 0, so the payload's last digit is doubled.
            if position % 2 == 0 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// An order record.
#[derive(Clone, Debug)]
pub(crate) struct Order {
    pub(crate) id: u64,
    pub(crate) status: &'static str,
    pub(crate) item: &'static str,
    pub(crate) quantity: u64,
    pub(crate) total_cents: u64,
    pub(crate) created_at: String,
    pub(crate) customer_id: u64,
    /// Sum of the refunds accepted so far.
    pub(crate) refunded_cents: u64,
}

impl Order {
    fn generate(id: u64) -> Self {
        let item_index = usize::try_from((id * 7) % 10).unwrap_or(0);
        let (item, unit_cents) = ITEMS.get(item_index).copied().unwrap_or(ITEMS[0]);
        let quantity = id % 4 + 1;
        let status_index = usize::try_from((id + id / 4) % 4).unwrap_or(0);
        Self {
            id,
            status: STATUSES.get(status_index).copied().unwrap_or("placed"),
            item,
            quantity,
            total_cents: unit_cents * quantity,
            created_at: created_at(id),
            customer_id: (id - 1) % CUSTOMER_COUNT + 1,
            refunded_cents: 0,
        }
    }

    /// What `listOrders` shows: no customer details beyond the id.
    pub(crate) fn summary_json(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status,
            "item": self.item,
            "quantity": self.quantity,
            "total_cents": self.total_cents,
            "created_at": self.created_at,
            "customer_id": self.customer_id,
        })
    }

    /// What `getOrder` shows: everything, the customer's contact and card details included.
    fn full_json(&self, customer: &Customer) -> Value {
        json!({
            "id": self.id,
            "status": self.status,
            "item": self.item,
            "quantity": self.quantity,
            "total_cents": self.total_cents,
            "refunded_cents": self.refunded_cents,
            "created_at": self.created_at,
            "customer": customer.to_json(),
        })
    }
}

/// A fixed RFC 3339 timestamp in 2025, spread over the year by order id.
fn created_at(id: u64) -> String {
    let day_of_year = 2 + id * 3; // 5 ..= 302, always inside 2025
    let month_index = DAYS_BEFORE_MONTH
        .iter()
        .rposition(|&before| before < day_of_year)
        .unwrap_or(0);
    let day = day_of_year - DAYS_BEFORE_MONTH.get(month_index).copied().unwrap_or(0);
    let hour = 8 + (id * 5) % 12;
    let minute = (id * 17) % 60;
    format!(
        "2025-{:02}-{day:02}T{hour:02}:{minute:02}:00Z",
        month_index + 1
    )
}

/// Why a refund was refused.
#[derive(Debug, Eq, PartialEq)]
pub(crate) enum RefundRefusal {
    /// No order with that id.
    UnknownOrder,
    /// The amount is larger than what is left to refund.
    ExceedsBalance {
        /// What is left to refund, in cents.
        remaining_cents: u64,
    },
}

/// An accepted refund.
#[derive(Debug, Eq, PartialEq)]
pub(crate) struct Refund {
    pub(crate) refund_id: String,
    pub(crate) amount_cents: u64,
}

/// Every order and customer, and the state the write operations change.
#[derive(Debug)]
pub(crate) struct Store {
    orders: Vec<Order>,
    customers: Vec<Customer>,
    refunds_issued: u64,
    /// Receipt URLs attached to orders (`attachReceipt`), by order id. Stored, never fetched.
    receipts: std::collections::BTreeMap<u64, String>,
}

impl Store {
    /// The initial dataset; identical on every call.
    pub(crate) fn generate() -> Self {
        Self {
            orders: (1..=ORDER_COUNT).map(Order::generate).collect(),
            customers: (1..=CUSTOMER_COUNT).map(Customer::generate).collect(),
            refunds_issued: 0,
            receipts: std::collections::BTreeMap::new(),
        }
    }

    fn order_index(id: u64) -> Option<usize> {
        if (1..=ORDER_COUNT).contains(&id) {
            usize::try_from(id - 1).ok()
        } else {
            None
        }
    }

    fn customer_index(id: u64) -> Option<usize> {
        if (1..=CUSTOMER_COUNT).contains(&id) {
            usize::try_from(id - 1).ok()
        } else {
            None
        }
    }

    /// Orders with the given status (all when `None`), in id order.
    pub(crate) fn orders_with_status(&self, status: Option<&str>) -> Vec<&Order> {
        self.orders
            .iter()
            .filter(|order| status.is_none_or(|wanted| order.status == wanted))
            .collect()
    }

    /// Orders whose item contains `query`, ignoring case.
    pub(crate) fn search(&self, query: &str) -> Vec<&Order> {
        let query = query.to_lowercase();
        self.orders
            .iter()
            .filter(|order| order.item.to_lowercase().contains(&query))
            .collect()
    }

    /// Stores a receipt URL for an order; `false` for an unknown order. Nothing is fetched.
    pub(crate) fn attach_receipt(&mut self, id: u64, url: String) -> bool {
        if Self::order_index(id).is_none_or(|index| index >= self.orders.len()) {
            return false;
        }
        self.receipts.insert(id, url);
        true
    }

    /// The receipt URL attached to an order, if any.
    pub(crate) fn receipt(&self, id: u64) -> Option<&str> {
        self.receipts.get(&id).map(String::as_str)
    }

    /// The full order object, or `None` for an unknown id.
    pub(crate) fn order_json(&self, id: u64) -> Option<Value> {
        let order = self.orders.get(Self::order_index(id)?)?;
        let customer = self
            .customers
            .get(Self::customer_index(order.customer_id)?)?;
        Some(order.full_json(customer))
    }

    /// Refunds `amount_cents` of an order if that much is left to refund.
    pub(crate) fn refund(&mut self, id: u64, amount_cents: u64) -> Result<Refund, RefundRefusal> {
        let order = Self::order_index(id)
            .and_then(|index| self.orders.get_mut(index))
            .ok_or(RefundRefusal::UnknownOrder)?;
        let remaining_cents = order.total_cents.saturating_sub(order.refunded_cents);
        if amount_cents > remaining_cents {
            return Err(RefundRefusal::ExceedsBalance { remaining_cents });
        }
        order.refunded_cents += amount_cents;
        order.status = "refunded";
        self.refunds_issued += 1;
        Ok(Refund {
            refund_id: format!("rf_{:06}", self.refunds_issued),
            amount_cents,
        })
    }

    /// Erases a customer. Returns false when the id is unknown or already erased.
    pub(crate) fn delete_customer(&mut self, id: u64) -> bool {
        match Self::customer_index(id).and_then(|index| self.customers.get_mut(index)) {
            Some(customer) if !customer.deleted => {
                customer.deleted = true;
                true
            }
            _ => false,
        }
    }

    /// Whether a customer has been erased.
    pub(crate) fn customer_deleted(&self, id: u64) -> bool {
        Self::customer_index(id)
            .and_then(|index| self.customers.get(index))
            .is_some_and(|customer| customer.deleted)
    }
}
