"""Channel adapters (e-mail, SMS, WhatsApp, letter, sandbox) behind one interface."""
