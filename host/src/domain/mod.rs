//! Domain rules as plain functions over plain types: money, the state machines of orders,
//! payments, refunds and webhook deliveries, payment numbers, the pay window, repay,
//! settlement, the deadline and the timed rules' schedules. No I/O here; storage and HTTP
//! wrap it, and the store applies exactly the changes these rules hand it.

pub mod adapter;
pub mod deadline;
pub mod delivery;
pub mod destination;
pub mod listing;
pub mod merchant;
pub mod money;
pub mod operator;
pub mod order;
pub mod payment;
pub mod reconcile;
pub mod refund;
pub mod repay;
pub mod schedule;
pub mod settle;
mod state;

pub use delivery::DeliveryState;
pub use money::{Currency, Money, MoneyError, MAX_AMOUNT_MINOR};
pub use order::{NewOrder, OrderError, OrderEvent, OrderState};
pub use payment::{
    check_payer, pay_window, resolve_flag, PayAction, PayWindow, PaymentEvent, PaymentFlag,
    PaymentNo, PaymentState, ResolveError, WindowError, MAX_RESOLUTION_NOTE,
};
pub use refund::{retry_failed, RefundEvent, RefundKind, RefundState, RetryError};
pub use settle::{settle, PaymentOrder, ReportedPayment, Settlement};
pub use state::{Change, InvalidTransition, Transition};
