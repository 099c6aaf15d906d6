// AWS SDK for Java v1 probe (1.11.901, the aws-java-sdk-bundle that Hadoop 3.3's
// s3a uses). Resolves credentials with the SDK's own providers, configured by
// environment variables and system properties only, and prints one JSON line:
// the access key id and (read by reflection, best effort) the expiration.
// Never prints the secret key or the session token.
//
//   java -cp BUNDLE:commons-logging.jar:CLASSES JavaV1Probe [chain|wrapper|instance]
//
//   chain     DefaultAWSCredentialsProviderChain (what most applications use)
//   wrapper   EC2ContainerCredentialsProviderWrapper (what Hadoop 3.3's
//             IAMInstanceCredentialsProvider wraps): container if
//             AWS_CONTAINER_CREDENTIALS_{RELATIVE,FULL}_URI is set, else IMDS
//   instance  InstanceProfileCredentialsProvider (IMDS; endpoint override via
//             -Dcom.amazonaws.sdk.ec2MetadataServiceEndpointOverride=...)

import com.amazonaws.auth.AWSCredentials;
import com.amazonaws.auth.AWSCredentialsProvider;
import com.amazonaws.auth.AWSSessionCredentials;
import com.amazonaws.auth.DefaultAWSCredentialsProviderChain;
import com.amazonaws.auth.EC2ContainerCredentialsProviderWrapper;
import com.amazonaws.auth.InstanceProfileCredentialsProvider;
import java.lang.reflect.Field;
import java.text.SimpleDateFormat;
import java.util.Date;
import java.util.TimeZone;

public final class JavaV1Probe {
    public static void main(String[] args) {
        String mode = args.length > 0 ? args[0] : "chain";
        AWSCredentialsProvider provider;
        switch (mode) {
            case "chain": provider = new DefaultAWSCredentialsProviderChain(); break;
            case "wrapper": provider = new EC2ContainerCredentialsProviderWrapper(); break;
            case "instance": provider = InstanceProfileCredentialsProvider.getInstance(); break;
            default:
                System.out.println("{\"client\":\"java-v1\",\"error\":\"Usage\",\"message\":\"unknown mode\"}");
                System.exit(2);
                return;
        }
        StringBuilder sb = new StringBuilder("{\"client\":\"java-v1\",\"mode\":\"").append(mode).append('"');
        try {
            AWSCredentials c = provider.getCredentials();
            sb.append(",\"access_key_id\":\"").append(esc(c.getAWSAccessKeyId())).append('"');
            sb.append(",\"has_token\":").append(c instanceof AWSSessionCredentials
                    && ((AWSSessionCredentials) c).getSessionToken() != null);
            Date exp = findExpiration(provider, 0);
            sb.append(",\"expiration\":").append(exp == null ? "null" : "\"" + iso(exp) + "\"");
            sb.append('}');
            System.out.println(sb);
        } catch (RuntimeException e) {
            sb.append(",\"error\":\"").append(esc(e.getClass().getSimpleName())).append('"');
            sb.append(",\"message\":\"").append(esc(String.valueOf(e.getMessage()))).append("\"}");
            System.out.println(sb);
            System.exit(1);
        }
    }

    // The v1 providers keep the expiration in a private field of their
    // EC2CredentialsFetcher; walk the object graph a few levels to find it.
    private static Date findExpiration(Object o, int depth) {
        if (o == null || depth > 4) return null;
        for (Class<?> k = o.getClass(); k != null && k != Object.class; k = k.getSuperclass()) {
            for (Field f : k.getDeclaredFields()) {
                if (f.getType().isPrimitive() || java.lang.reflect.Modifier.isStatic(f.getModifiers())) continue;
                try {
                    f.setAccessible(true);
                    Object v = f.get(o);
                    if (v instanceof Date && f.getName().toLowerCase().contains("expir")) return (Date) v;
                    if (v != null && v.getClass().getName().startsWith("com.amazonaws.auth")) {
                        Date d = findExpiration(v, depth + 1);
                        if (d != null) return d;
                    }
                } catch (RuntimeException | IllegalAccessException ignored) {
                    // best effort only
                }
            }
        }
        return null;
    }

    private static String iso(Date d) {
        SimpleDateFormat f = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'");
        f.setTimeZone(TimeZone.getTimeZone("UTC"));
        return f.format(d);
    }

    private static String esc(String s) {
        StringBuilder b = new StringBuilder();
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') b.append('\\').append(ch);
            else if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
            else b.append(ch);
        }
        return b.toString();
    }
}
