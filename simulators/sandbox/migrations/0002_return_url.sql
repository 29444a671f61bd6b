-- Where the checkout page sends the payer after paying (an absolute http(s) URL the merchant
-- gave, like Alipay's return_url); NULL when the merchant gave none.
ALTER TABLE sandbox_trades ADD COLUMN return_url TEXT;
