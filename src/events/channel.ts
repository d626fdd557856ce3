/** The PostgreSQL NOTIFY channel on which committed bill-run events are announced. */
export const EVENTS_CHANNEL = "billrun_events";
