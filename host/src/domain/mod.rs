//! Domain rules as plain functions over plain types: money, the order state machine,
//! payment numbers, the pay window and settlement. No I/O here; storage and HTTP wrap it.

pub mod money;
pub mod order;
pub mod payment;
pub mod repay;
pub mod settle;

pub use money::{Currency, Money, MoneyError, MAX_AMOUNT_MINOR};
pub use order::{NewOrder, OrderError, OrderEvent, OrderState, Transition};
pub use payment::{
    check_payer, pay_window, PayAction, PayWindow, PaymentNo, PaymentState, WindowError,
};
pub use settle::{settle, ReportedPayment, Settlement};
