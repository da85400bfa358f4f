-- Roaming partners address sessions by their own ids (OICP SessionID), kept in attributes.
CREATE UNIQUE INDEX sessions_oicp_session_id ON sessions ((attributes -> 'oicp' ->> 'SessionID'))
    WHERE attributes ? 'oicp' AND status <> 'failed';
