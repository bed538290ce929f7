# meshbridge: `meshbridge serve` (dashboard, API, broker, bundle endpoint, metrics).
#   docker build -t meshbridge .
#   docker run --rm -p 8080:8080 -e MESHBRIDGE_LISTEN=0.0.0.0:8080 -e MESHBRIDGE_ADMIN_TOKEN=... meshbridge
# Kubernetes manifests: deploy/kubernetes/.

FROM node:20-slim AS build
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-fund --no-audit
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
# Production dependencies only, for the runtime image.
RUN npm ci --omit=dev --no-fund --no-audit

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
COPY proto ./proto
# The image's `node` user (uid 1000): never root.
USER 1000:1000
EXPOSE 8080 8443
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve", "--config", "/etc/meshbridge/meshbridge.yaml"]
