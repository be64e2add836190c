# syntax=docker/dockerfile:1
# Node 24: the current LTS (Node 20 reached its end of life in April 2026).
# Build stage: compile TypeScript with the dev dependencies. `npm run build` also copies the local IdP's data
# (idp/users.json, idp/clients.json, idp/demo-keys/) into dist/idp/, so the same image can run the IdP for compose.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY *.ts ./
COPY src ./src
COPY plugins ./plugins
COPY routes ./routes
COPY idp ./idp
COPY demo ./demo
RUN npm run build

# Runtime stage: production dependencies only, compiled output, non-root.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 ADMIN_PORT=9091
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
# 3000: the gateway; 9091: the admin server (/metrics) — publish it only to the monitoring network.
EXPOSE 3000 9091
# SIGTERM: stop accepting, finish in-flight requests and refreshes within SHUTDOWN_TIMEOUT (10 s), exit 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/server.js"]
